"""E. The approver's queue: `GET /me/approvals` beside the bare SQL query
that returns the same 50 rows.

Data (COPY, `bench/loaders.py`): one manager who manages 10 teams of
nominees; `--queue-cycles` (20) published cycles whose approval windows are
open, closing on different days; per cycle, `--queue-nominations` / cycles
(500) pending nominations of the manager's people, each with 0-2 decisions
by admins already (so "fewest decisions" matters), spread over the last
weeks; and as much again that is not the manager's queue: nominations of
another manager's teams, ones the manager already decided, withdrawn ones,
and ones in cycles whose approval window closed.

- **Plaudit:** `GET /me/approvals` (page 1, and page 100 with the cursor the
  API gave for it) from `plaudit serve` (one worker, no notification
  worker), on one kept-alive connection (`http.client`): authentication, the
  service's one statement (its JSON built by PostgreSQL), the body, loopback.
- **Baseline:** the query a person would write by hand for that page (the
  same filter, order, keyset condition, names and decision counts),
  executed with psycopg and its 50 rows fetched; planned for its parameters
  on every run, as Plaudit's statements are (`plaudit.db.session`: no
  automatic preparation). The same query as a prepared statement is printed
  for the record: after a few runs PostgreSQL may give it a generic plan,
  which for this query can be faster or several times slower.
- Both sides alternate, after a warm-up; each figure is the best of
  `--queue-repeats` runs (like `timeit`, and like A: other load on the
  machine only ever slows a run down); the medians are printed too. Before timing, the ids of both sides' pages are
  compared: they must be the same 50 rows in the same order.
- **Target:** each page within 1.5x the baseline.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench import loaders
from bench.common import Outcome, Server, block, log, postmaster_pid, tree_cpu
from plaudit.models.enums import Role

TARGET = 1.5
PAGE = 50
JUSTIFICATION = "Kept the release train on time through a hard quarter."

BARE = """
SELECT n.id, n.cycle_id, c.name, n.nominator_id, nominator.display_name, n.nominee_id, nominee.display_name,
       t.name, n.justification, n.status, d.n, n.created_at, n.updated_at, n.withdrawn_at,
       c.approval_closes_at
FROM nominations n
JOIN cycles c ON c.id = n.cycle_id
JOIN users nominator ON nominator.id = n.nominator_id
JOIN users nominee ON nominee.id = n.nominee_id
JOIN teams t ON t.id = nominee.team_id
CROSS JOIN LATERAL (SELECT count(*) AS n FROM approvals a WHERE a.nomination_id = n.id) d
WHERE n.status = 'pending' AND c.status = 'published'
  AND c.approval_opens_at <= %(now)s AND %(now)s < c.approval_closes_at
  AND t.manager_id = %(me)s AND n.nominator_id <> %(me)s AND n.nominee_id <> %(me)s
  AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.nomination_id = n.id AND a.approver_id = %(me)s)
  {after}
ORDER BY c.approval_closes_at, d.n, n.created_at, n.id
LIMIT {limit}
"""
AFTER = (
    "AND c.approval_closes_at >= %(k1)s"  # implied by the next line, but an index can seek it
    " AND (c.approval_closes_at, d.n, n.created_at, n.id) > (%(k1)s, %(k2)s, %(k3)s, %(k4)s)"
)


def _users_in_teams(conn: psycopg.Connection, teams: list[uuid.UUID], per_team: int, tag: str) -> list[uuid.UUID]:
    ids = []

    def rows():
        for t, team in enumerate(teams):
            for i in range(per_team):
                uid = uuid.uuid4()
                ids.append(uid)
                yield uid, f"{tag}-{t}-{i}@bench.example", f"{tag.title()} {t:02d}-{i:04d}", "employee", True, team

    loaders.copy_rows(conn, "users", ("id", "email", "display_name", "role", "is_active", "team_id"), rows())
    return ids


def _teams(conn: psycopg.Connection, manager: uuid.UUID, count: int, tag: str) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    loaders.copy_rows(conn, "teams", ("id", "name", "manager_id"),
                      ((tid, f"{tag} team {i}", manager) for i, tid in enumerate(ids)))
    return ids


def _cycle(conn: psycopg.Connection, now: datetime, closes_in_days: float, name: str) -> uuid.UUID:
    cycle_id = uuid.uuid4()
    day = timedelta(days=1)
    a_close = now + closes_in_days * day
    conn.execute(
        """INSERT INTO cycles (id, name, status, nomination_opens_at, nomination_closes_at,
               approval_opens_at, approval_closes_at, required_approvals, published_at)
           VALUES (%s, %s, 'published', %s, %s, %s, %s, 3, %s)""",
        (cycle_id, name, now - 30 * day, min(now - day, a_close), now - 20 * day, a_close, now - 30 * day),
    )
    return cycle_id


def load(conn: psycopg.Connection, now: datetime, *, nominations: int, cycles: int, seed: int = 7) -> dict:
    """The data set (see the module docstring). Caller commits."""
    rng = random.Random(seed)
    (manager,) = loaders.make_users(conn, 1, role=Role.manager, tag="approver")
    (other_manager,) = loaders.make_users(conn, 1, role=Role.manager, tag="other-manager")
    admins = loaders.make_users(conn, 5, role=Role.admin, tag="admin")
    per_cycle = -(-nominations // cycles)
    nominators = loaders.make_users(conn, per_cycle, role=Role.employee, tag="nominator")
    mine = _users_in_teams(conn, _teams(conn, manager, 10, "Mine"), max(1, per_cycle // 10), "nominee")
    theirs = _users_in_teams(conn, _teams(conn, other_manager, 10, "Theirs"), max(1, per_cycle // 10), "other")
    open_cycles = [_cycle(conn, now, 1 + i, f"Queue cycle {i:02d}") for i in range(cycles)]
    closed = _cycle(conn, now, -1, "Closed cycle")
    nomination_rows, approval_rows = [], []
    counts = {"queue": 0, "other team": 0, "decided": 0, "withdrawn": 0, "window closed": 0}

    def nominate(cycle_id, k, nominee, kind, status="pending", decisions=0, decided_by_me=False):
        nid = uuid.uuid4()
        created = now - timedelta(seconds=rng.randrange(1, 30 * 86400))
        withdrawn = created if status == "withdrawn" else None
        nomination_rows.append((nid, cycle_id, nominators[k], nominee, JUSTIFICATION, status, created, created,
                                withdrawn))
        for j in range(decisions):
            approval_rows.append((uuid.uuid4(), nid, admins[j], "approve"))
        if decided_by_me:
            approval_rows.append((uuid.uuid4(), nid, manager, "approve"))
        counts[kind] += 1

    for cycle_id in open_cycles:
        for k in range(per_cycle):
            if counts["queue"] < nominations:
                nominate(cycle_id, k, mine[k % len(mine)], "queue", decisions=rng.choice((0, 0, 1, 2)))
            nominate(cycle_id, k, theirs[k % len(theirs)], "other team", decisions=rng.choice((0, 1)))
        for k in range(per_cycle // 10):  # the same nominators, other nominees: distinct pairs
            nominee = mine[(k + 1) % len(mine)]
            if k % 2:
                nominate(cycle_id, k, nominee, "decided", decided_by_me=True)
            else:
                nominate(cycle_id, k, nominee, "withdrawn", status="withdrawn")
    for k in range(per_cycle):
        nominate(closed, k, mine[k % len(mine)], "window closed")
    loaders.skip_triggers(conn)
    loaders.copy_rows(
        conn, "nominations",
        ("id", "cycle_id", "nominator_id", "nominee_id", "justification", "status", "created_at", "updated_at",
         "withdrawn_at"),
        nomination_rows,
    )
    loaders.copy_rows(conn, "approvals", ("id", "nomination_id", "approver_id", "decision"), approval_rows)
    (secret,) = loaders.make_tokens(conn, [manager])
    return {"manager": manager, "secret": secret, "counts": counts, "approvals": len(approval_rows)}


def _bare(
    conn: psycopg.Connection, now: datetime, me: uuid.UUID, after: tuple | None, limit: int = PAGE,
    prepare: bool = False,
):
    params = {"now": now, "me": me}
    if after is not None:
        params.update(k1=after[0], k2=after[1], k3=after[2], k4=after[3])
    sql = BARE.format(after=AFTER if after else "", limit=limit)
    return conn.execute(sql, params, prepare=prepare).fetchall()


def run(server: Server, *, nominations: int = 10_000, cycles: int = 20, repeats: int = 30) -> Outcome:
    from bench.http_nominations import free_port, start, wait_ready

    title = f"E. GET /me/approvals vs the bare SQL page ({nominations} queued over {cycles} cycles, {PAGE} a page)"
    logdir = Path(tempfile.mkdtemp(prefix="plaudit-bench-queue-"))
    with server.fresh_database("queue") as db:
        now = loaders.now_utc()
        with psycopg.connect(server.libpq_for(db)) as conn:
            started = time.perf_counter()
            data = load(conn, now, nominations=nominations, cycles=cycles)
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            log(f"queue data loaded in {time.perf_counter() - started:.1f} s: {data['counts']}")
        me = data["manager"]
        headers = {"Authorization": f"Bearer {data['secret']}"}
        env = {**os.environ, "DATABASE_URL": server.url_for(db)}
        env.pop("PLAUDIT_DATA_DIR", None)
        port = free_port()
        plaudit = start("plaudit", [sys.executable, "-m", "plaudit.cli", "serve", "--host", "127.0.0.1",
                                    "--port", str(port), "--no-worker"], env, port, logdir)
        bare_conn = psycopg.connect(server.libpq_for(db), autocommit=True)
        http = HTTPConnection("127.0.0.1", port)  # one kept-alive connection, as a browser's
        try:
            wait_ready(plaudit, "/healthz")
            log(f"plaudit serve up on port {port} (logs: {plaudit.log_path})")

            def get(path: str) -> bytes:
                http.request("GET", path, headers=headers)
                response = http.getresponse()
                body = response.read()
                assert response.status == 200, body
                return body

            def api(cursor: str | None) -> dict:
                return json.loads(get("/me/approvals" + (f"?{urlencode({'cursor': cursor})}" if cursor else "")))

            # The cursor of page 100 (walking the API), and the bare side's key after page 99.
            cursor, page = None, 1
            while page < 100:
                cursor, page = api(cursor)["next_cursor"], page + 1
            before_100 = _bare(bare_conn, now, me, None, limit=99 * PAGE)[-1]
            after_99 = (before_100[14], before_100[10], before_100[11], before_100[0])
            sides = {1: (None, None), 100: (cursor, after_99)}
            for number, (api_cursor, bare_after) in sides.items():
                got = [x["id"] for x in api(api_cursor)["items"]]
                want = [str(row[0]) for row in _bare(bare_conn, now, me, bare_after)]
                if got != want or len(got) != PAGE:
                    raise AssertionError(f"page {number}: the API and the bare query disagree")
            total = sum(1 for _ in _bare(bare_conn, now, me, None, limit=nominations * 2))
            paths = {n: "/me/approvals" + (f"?{urlencode({'cursor': c})}" if c else "") for n, (c, _) in sides.items()}
            kinds = ("api", "bare", "prepared")
            times: dict[tuple[str, int], list[float]] = {(s, p): [] for s in kinds for p in sides}
            for _ in range(6):  # warm-up (and the prepared statements past psycopg's threshold)
                for number, (_, bare_after) in sides.items():
                    get(paths[number])
                    _bare(bare_conn, now, me, bare_after)
                    _bare(bare_conn, now, me, bare_after, prepare=True)
            for _ in range(repeats):
                for number, (_, bare_after) in sides.items():
                    t = time.perf_counter()
                    _bare(bare_conn, now, me, bare_after)
                    times["bare", number].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    get(paths[number])
                    times["api", number].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    _bare(bare_conn, now, me, bare_after, prepare=True)
                    times["prepared", number].append(time.perf_counter() - t)
            # CPU per page, apart from timing: the server's processes, this process, PostgreSQL.
            pg_pid = postmaster_pid(bare_conn)
            calls = {
                "api": lambda: [get(p) for p in paths.values()],
                "bare": lambda: [_bare(bare_conn, now, me, a) for _, a in sides.values()],
                "users_me": lambda: [get("/users/me") for _ in sides],
            }
            cpu = {}
            for side, call in calls.items():
                here, there, pg = time.process_time(), tree_cpu(plaudit.popen.pid), tree_cpu(pg_pid)
                for _ in range(repeats):
                    call()
                served = tree_cpu(plaudit.popen.pid) - there if there is not None else float("nan")
                database = tree_cpu(pg_pid) - pg if pg is not None else float("nan")
                per = repeats * len(sides) / 1000
                cpu[side] = ((time.process_time() - here) / per, served / per, database / per)
        finally:
            http.close()
            bare_conn.close()
            plaudit.stop()

    def best(side: str, number: int) -> float:
        return min(times[side, number]) * 1000

    def med(side: str, number: int) -> float:
        return statistics.median(times[side, number]) * 1000

    lines = [f"queue length {total} (of {sum(data['counts'].values())} nominations: {data['counts']})"]
    ratios = {}
    for number in sides:
        ratios[number] = best("api", number) / best("bare", number)
        lines += [
            f"page {number:3}: GET /me/approvals {best('api', number):6.2f} ms"
            f"   bare SQL {best('bare', number):6.2f} ms   ratio {ratios[number]:.3f}   (best of {repeats})",
            f"          medians {med('api', number):.2f} / {med('bare', number):.2f} ms"
            f" (ratio {med('api', number) / med('bare', number):.3f}); bare SQL as a prepared statement"
            f" {best('prepared', number):.2f} ms best, {med('prepared', number):.2f} median (for the record)",
        ]
    lines.append("CPU per page (the stable figure): this process (client), the server, PostgreSQL")
    for side, label in (("api", "GET /me/approvals"), ("bare", "bare SQL"), ("users_me", "GET /users/me")):
        client, served, database = cpu[side]
        lines.append(f"  {label:18} client {client:6.2f} ms   server {served:6.2f} ms   PostgreSQL {database:6.2f} ms")
    worst = max(ratios.values())
    return block(title, lines, Outcome("E approval queue", worst, f"<= {TARGET} (each page / bare SQL)",
                                       worst <= TARGET))


if __name__ == "__main__":  # python -m bench.queue
    from bench.common import bench_server

    run(bench_server())
