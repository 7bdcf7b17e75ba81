"""F. The web pages under load: the Home page and the Approvals page of a
manager with `--page-nominations` (500) pending nominations in their queue,
rendered by `plaudit serve --workers 2` for `--concurrency` (32) clients,
beside the JSON endpoints that return the same data, on the same server in
the same run.

Data: `bench.queue.load` (a manager whose 10 teams' people are nominated in
5 published cycles with open approval windows, and as much again that is not
their queue), a web session for the manager (a `web_sessions` row, as
signing in makes) and an API token.

- **Pages:** `GET /app/` (open cycles, the manager's nominations and awards,
  the queue's count) and `GET /app/approvals` (the first 50 of the queue with
  the progress line), each one request with the session cookie.
- **JSON:** the endpoints a client would call for the same data: for Home
  `GET /cycles?status=published&limit=20`, `GET /me/nominations?limit=5` and
  `GET /users/{id}/awards?limit=5` (one client sends the three in turn: one
  "page" of JSON); for Approvals `GET /me/approvals` (50 items).
- Load: as benchmark C, one asyncio loop, each client task on its own
  keep-alive connection with a minimal HTTP/1.1 client; warm-up first, then
  alternating timed rounds (pages, JSON, pages, JSON, ...). A page rate is
  pages (or JSON sets) per second of the best round; any status but 200
  fails the run.
- **Target:** each page's rate >= **70 %** of its JSON's rate.
- Also printed, not judged: CPU per request of the server's processes and of
  PostgreSQL for each side (median of the rounds), and their ratio: the
  figure other load on the machine moves least.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from bench import loaders, queue
from bench.common import Outcome, Server, block, log, postmaster_pid, tree_cpu
from bench.http_nominations import Proc, free_port, start, wait_ready
from plaudit.services.passwords import digest

TARGET = 0.70
CYCLES = 5


async def _get(host: str, port: int, jobs, errors: dict[int, int]) -> None:
    """One keep-alive connection sending each job's GET requests in turn."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for requests in jobs:
            for path, header in requests:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{header}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status, length, chunked = int(head[9:12]), 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if chunked:  # streamed bodies: read chunks to the last, empty one
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        await reader.readexactly(size + 2)
                        if size == 0:
                            break
                elif length:
                    await reader.readexactly(length)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
    finally:
        writer.close()


def _drive(base_url: str, job, count: int, concurrency: int) -> tuple[float, dict[int, int]]:
    """`count` jobs over `concurrency` connections; (jobs per second, error counts)."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    errors: dict[int, int] = {}
    shared = (job for _ in range(count))

    async def main() -> None:
        await asyncio.gather(*(_get(host, int(port), shared, errors) for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(main())
    return count / (time.perf_counter() - started), errors


def run(server: Server, *, nominations: int = 500, requests: int = 1000, warmup: int = 100,
        concurrency: int = 32, workers: int = 2, rounds: int = 3) -> Outcome:
    title = (f"F. pages vs JSON: Home and Approvals of a manager with {nominations} pending nominations "
             f"({requests} per side, {concurrency} clients, {workers} workers)")
    logdir = Path(tempfile.mkdtemp(prefix="plaudit-bench-pages-"))
    procs: list[Proc] = []
    with server.fresh_database("pages") as db:
        now = loaders.now_utc()
        with psycopg.connect(server.libpq_for(db)) as conn:
            data = queue.load(conn, now, nominations=nominations, cycles=CYCLES)
            session_secret = uuid.uuid4().hex + uuid.uuid4().hex
            conn.execute("INSERT INTO web_sessions (id, user_id, token_hash, started_at, last_seen_at) "
                         "VALUES (gen_random_uuid(), %s, %s, %s, %s)",
                         (data["manager"], digest(session_secret), now, now))
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            pg_pid = postmaster_pid(conn)
        env = {**os.environ, "DATABASE_URL": server.url_for(db)}
        env.pop("PLAUDIT_DATA_DIR", None)
        try:
            port = free_port()
            plaudit = start("plaudit", [sys.executable, "-m", "plaudit.cli", "serve", "--host", "127.0.0.1",
                                        "--port", str(port), "--workers", str(workers)], env, port, logdir)
            procs.append(plaudit)
            wait_ready(plaudit, "/healthz")
            log(f"plaudit serve up on port {port} (logs: {plaudit.log_path})")
            cookie = f"Cookie: plaudit_session={session_secret}"
            bearer = f"Authorization: Bearer {data['secret']}"
            me = data["manager"]
            sides = {
                "Home": ([("/app/", cookie)],
                         [("/cycles?status=published&limit=20", bearer), ("/me/nominations?limit=5", bearer),
                          (f"/users/{me}/awards?limit=5", bearer)]),
                "Approvals": ([("/app/approvals", cookie)], [("/me/approvals", bearer)]),
            }
            rates: dict[tuple[str, str], list[float]] = {}
            cpu: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for name, (page, json_) in sides.items():
                for kind, job in (("page", page), ("json", json_)):
                    _, errors = _drive(plaudit.base_url, job, warmup, concurrency)
                    if errors:
                        raise RuntimeError(f"{name} {kind}: statuses {errors}; see {plaudit.log_path}")
                    rates[name, kind], cpu[name, kind] = [], []
            size = -(-requests // rounds)
            for r in range(rounds):
                for name, (page, json_) in sides.items():
                    for kind, job in (("page", page), ("json", json_)):
                        served, database = tree_cpu(plaudit.popen.pid), tree_cpu(pg_pid)
                        rate, errors = _drive(plaudit.base_url, job, size, concurrency)
                        if errors:
                            raise RuntimeError(f"{name} {kind}: statuses {errors}")
                        rates[name, kind].append(rate)
                        if served is not None and database is not None:
                            cpu[name, kind].append(((tree_cpu(plaudit.popen.pid) - served) * 1000 / size,
                                                    (tree_cpu(pg_pid) - database) * 1000 / size))
                log(f"round {r + 1} of {rounds} done")
        finally:
            for proc in procs:
                proc.stop()
    lines, ratios = [f"queue: {data['counts']['queue']} pending nominations over {CYCLES} cycles"], {}
    for name in sides:
        page, json_ = max(rates[name, "page"]), max(rates[name, "json"])
        ratios[name] = page / json_
        lines.append(f"{name:9}: page {page:7.1f}/s   JSON {json_:7.1f}/s   ratio {ratios[name]:.3f}"
                     f"   (rounds: page {', '.join(f'{x:.0f}' for x in rates[name, 'page'])};"
                     f" JSON {', '.join(f'{x:.0f}' for x in rates[name, 'json'])})")
        # Each page round beside the JSON round that followed it: the machine's
        # speed drifts between rounds, and each side's best round may come from
        # a different moment. Printed for the record; the target is judged as above.
        paired = statistics.median(p / j for p, j in zip(rates[name, "page"], rates[name, "json"], strict=True))
        lines.append(f"{'':11}page / JSON of the rounds run side by side: median {paired:.3f}")
        if cpu[name, "page"] and cpu[name, "json"]:
            # CPU per page (or JSON set), median of the rounds: the figure other load moves least.
            (ps, pd), (js, jd) = (sorted(cpu[name, k], key=sum)[len(cpu[name, k]) // 2] for k in ("page", "json"))
            lines.append(f"{'':11}CPU per request: page server {ps:.2f} + PostgreSQL {pd:.2f} ms, JSON server"
                         f" {js:.2f} + PostgreSQL {jd:.2f} ms: CPU-cost ratio {(js + jd) / (ps + pd):.3f}")
    worst = min(ratios.values())
    return block(title, lines, Outcome("F pages vs JSON", worst, f">= {TARGET} (each page / its JSON)",
                                       worst >= TARGET))


if __name__ == "__main__":  # python -m bench.pages
    from bench.common import bench_server

    run(bench_server())
