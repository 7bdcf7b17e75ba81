"""B. `finalize` of a big cycle beside the bare ranking SELECT, and its memory.

Set-up (COPY, see `loaders.load_ranked_cycle`): N approved nominations among
U employees (each nominee gets about N/U), 2 `approve` approvals each by
admins, 5 criteria, so 10·N ratings: 100,000 nominations = 1,000,000 ratings.
The loaded database is VACUUM ANALYZEd once and used as a template: every
repeat runs on a fresh copy (CREATE DATABASE ... TEMPLATE), because finalize
can only run once per cycle.

Per copy: one untimed warm-up SELECT, then the timed bare SELECT
(`ranking_query(cycle_id)`: execute + fetch every row through SQLAlchemy
Core, the reference), then the timed `finalize` in its own committed
transaction (`with session_factory() as s, s.begin(): finalize_cycle(...)`)
followed by streaming the full Results JSON body from the stored rows
(`results_chunks`), i.e. everything `POST /cycles/{id}/finalize` does, with a
FixedClock after the approval window, actor None (the command line). Figures
are the best (lowest) over the copies (like `timeit`: other load only ever
slows a run down). Also shown, for diagnosis: the server-only time of the
ranking (`SELECT count(*) FROM (ranking) q`, nothing transferred).

Memory: tracemalloc peak during one finalize at two cycle sizes with the same
nominations per nominee (the small cycle has proportionally fewer users), on
copies not used for timing. "Flat" = the big/small peak ratio ≤ 1.5.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
import uuid

import psycopg

from bench import loaders
from bench.common import Outcome, Server, block, log, postmaster_pid, tree_cpu

TARGET = 1.5  # finalize / leanest exact SELECT
ZSCORE_TARGET = 2.0  # finalize with zscore / bare ranking SELECT without
WHAT_IF_TARGET = 1.5  # what-if / bare ranking SELECT
MEMORY_FLAT = 1.5

# The leanest exact statement for the same numbers (B's second baseline):
# integer rating sums per nomination (t = Σ W·rating with W = weight × 10⁴,
# k = its approvals), each nominee's score one exact integer numerator over an
# exact integer denominator (D = the lcm of every k), one numeric division
# rounded half-up to 6 places, rank(). Numbers only: no names, no breakdown,
# no spread, no JSON. It relies on every approval rating every criterion.
LEAN_SQL = """
WITH RECURSIVE
crit AS (
    SELECT c.id, (c.weight * 10000)::integer AS w, count(*) OVER () AS n
    FROM criteria c WHERE c.cycle_id = :cycle_id
),
per_nomination AS (
    SELECT n.nominee_id, sum(r.value * c.w) AS t, count(*) / min(c.n) AS k
    FROM nominations n
    JOIN approvals a ON a.nomination_id = n.id AND a.decision = 'approve'
    JOIN approval_ratings r ON r.approval_id = a.id
    JOIN crit c ON c.id = r.criterion_id
    WHERE n.cycle_id = :cycle_id AND n.status = 'approved'
    GROUP BY n.id, n.nominee_id
),
counts AS (SELECT d.k, row_number() OVER (ORDER BY d.k) AS i FROM (SELECT DISTINCT k FROM per_nomination) d),
lcm_fold (i, d) AS (
    SELECT 0::bigint, 1::bigint
    UNION ALL
    SELECT c.i, lcm(f.d, c.k) FROM lcm_fold f JOIN counts c ON c.i = f.i + 1
),
common AS (SELECT f.d FROM lcm_fold f ORDER BY f.i DESC LIMIT 1),
scored AS (
    SELECT p.nominee_id, count(*) AS approved,
           div(sum(p.t * (common.d / p.k)) * 200 + common.d * count(*), 2 * common.d * count(*)) * 0.000001 AS score
    FROM per_nomination p CROSS JOIN common
    GROUP BY p.nominee_id, common.d
)
SELECT s.nominee_id, s.score, s.approved, rank() OVER (ORDER BY s.score DESC, s.approved DESC) AS rank
FROM scored s
"""


def available() -> bool:
    try:
        from plaudit.services.ranking import finalize_cycle  # noqa: F401
        from plaudit.services.scoring import ranking_query  # noqa: F401
    except ImportError:
        return False
    return True


def load_template(server: Server, *, nominations: int, users: int, now) -> tuple[str, dict]:
    """A database holding one loaded cycle, vacuumed and analyzed, no connections left."""
    name = f"plaudit_bench_rank_{nominations}_{uuid.uuid4().hex[:6]}"
    url = server.create_database(name)
    try:
        from plaudit.db import migrate

        migrate.upgrade(url)
        started = time.perf_counter()
        with psycopg.connect(server.libpq_for(name)) as conn:
            info = loaders.load_ranked_cycle(conn, now=now, nominations=nominations, users=users)
        with psycopg.connect(server.libpq_for(name), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        info["load_s"] = time.perf_counter() - started
    except BaseException:
        server.drop_database(name)
        raise
    return name, info


def crypto_of(conn) -> str:
    """Whether the server was built with OpenSSL: without it, `sha256()` (the
    inputs digest) and `gen_random_uuid()` (each result row's id) run
    PostgreSQL's own fallbacks, several times slower (the embedded server's
    build is one), and finalize pays for both. Printed beside the figures."""
    try:  # pg_config is for superusers only
        configure = conn.execute("SELECT setting FROM pg_config WHERE name = 'CONFIGURE'").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        configure = None

    def timed(sql: str) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            conn.execute(sql)
            best = min(best, time.perf_counter() - started)
        return best

    # 30 MB, hashed 5 times over against read 5 times over.
    five = "FROM (SELECT convert_to(repeat('0123456789', 3000000), 'UTF8') AS b OFFSET 0) t, generate_series(1, 5)"
    hashing = max(0.0, timed(f"SELECT sum(length(sha256(t.b))) {five}") - timed(f"SELECT sum(length(t.b)) {five}")) / 5
    built = "(unknown)" if configure is None else "with OpenSSL" if "ssl" in configure[0] else "without OpenSSL"
    version = conn.info.parameter_status("server_version")
    return f"{version}, built {built}; sha256() of 30 MB: {hashing * 1000:.0f} ms"


class Cpu:
    """CPU seconds of this process and of the PostgreSQL server around a call."""

    def __init__(self, pg_pid: int | None) -> None:
        self.pg_pid = pg_pid
        self.samples: dict[str, list[tuple[float, float]]] = {}

    def __call__(self, key: str, fn, *args, **kwargs):
        py0, pg0 = time.process_time(), tree_cpu(self.pg_pid)
        result = fn(*args, **kwargs)
        pg1 = tree_cpu(self.pg_pid)
        pg = (pg1 - pg0) if pg0 is not None and pg1 is not None else float("nan")
        self.samples.setdefault(key, []).append((time.process_time() - py0, pg))
        return result

    def median(self, key: str) -> tuple[float, float]:
        rows = self.samples.get(key, [])
        return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)


def ranking_of(conn, cycle_id):
    """The cycle's ranking statement, as finalize builds it."""
    from sqlalchemy import select

    from plaudit.models import Cycle
    from plaudit.services.scoring import ranking_query, scoring_of

    cycle = conn.execute(
        select(Cycle.id, Cycle.award_slots, Cycle.score_normalization).where(Cycle.id == cycle_id)
    ).one()
    return ranking_query(scoring_of(conn, cycle))


def time_select(engine, cycle_id) -> tuple[float, int]:
    with engine.connect() as conn:
        started = time.perf_counter()
        rows = conn.execute(ranking_of(conn, cycle_id)).all()
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed, len(rows)


def time_lean(engine, cycle_id) -> tuple[float, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        started = time.perf_counter()
        rows = conn.execute(text(LEAN_SQL), {"cycle_id": cycle_id}).all()
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed, len(rows)


def time_what_if(engine, cycle_id) -> tuple[float, int]:
    """What `POST /cycles/{id}/preview` does with other weights: the checks,
    the ranking with them bound, its Results JSON built by PostgreSQL."""
    import json
    from decimal import Decimal

    from sqlalchemy import select

    from plaudit.db.session import make_sessionmaker
    from plaudit.models import Criterion
    from plaudit.services.ranking import what_if

    with make_sessionmaker(engine)() as s:
        ids = s.scalars(select(Criterion.id).where(Criterion.cycle_id == cycle_id).order_by(Criterion.id)).all()
        weights = {cid: Decimal("0.0001") for cid in ids[1:]}
        weights[ids[0]] = 1 - sum(weights.values(), Decimal(0))  # all but one criterion nearly ignored
        started = time.perf_counter()
        body = what_if(s, None, cycle_id, weights=weights)
        elapsed = time.perf_counter() - started
        s.rollback()
    return elapsed, len(json.loads(body)["items"])


def time_digest(engine, cycle_id) -> float:
    """The inputs digest recomputed alone, as `plaudit results verify` does
    (the ranking's pass over the ratings, then the digest). Finalize computes
    it inside its one statement, over that same pass, so this is not a part
    of finalize's time."""
    from plaudit.db.session import make_sessionmaker
    from plaudit.services.results_digest import inputs_digest

    with make_sessionmaker(engine)() as s:
        started = time.perf_counter()
        inputs_digest(s, cycle_id)
        elapsed = time.perf_counter() - started
        s.rollback()
    return elapsed


def use_zscore(engine, cycle_id) -> None:
    """Set the (published) cycle's normalisation to zscore, as a draft would have it."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("UPDATE cycles SET score_normalization = 'zscore' WHERE id = :id"), {"id": cycle_id})


def time_server_only(engine, cycle_id) -> float:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(select(func.count()).select_from(ranking_of(conn, cycle_id).subquery())).scalar_one()
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


def run_finalize(engine, cycle_id, clock, *, memory: bool = False, profile: str | None = None):
    """What `POST /cycles/{id}/finalize` does: finalize in its own committed
    transaction, then the full Results JSON body streamed from the stored rows
    (consumed and dropped, as the HTTP server would send it).
    Returns (seconds, ranked rows, peak bytes or None, seconds of the body)."""
    from sqlalchemy import func, select

    from plaudit.db.session import make_sessionmaker
    from plaudit.models import CycleResult
    from plaudit.services.ranking import finalize_cycle, results_chunks

    factory = make_sessionmaker(engine)
    prof = None
    if memory:
        tracemalloc.start()
        tracemalloc.reset_peak()
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    started = time.perf_counter()
    with factory() as s, s.begin():
        cycle = finalize_cycle(s, None, cycle_id, clock=clock)
    committed = time.perf_counter()
    body_bytes = 0
    with factory() as s:
        for chunk in results_chunks(s, cycle):
            body_bytes += len(chunk)
    elapsed = time.perf_counter() - started
    body = time.perf_counter() - committed
    if prof:
        prof.disable()
        prof.dump_stats(profile)
        log(f"cProfile of one finalize written to {profile}")
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    with factory() as s:
        ranked = s.scalar(select(func.count()).where(CycleResult.cycle_id == cycle_id))
    return elapsed, ranked, peak, body


def run(
    server: Server,
    *,
    nominations: int = 100_000,
    small_nominations: int = 10_000,
    users: int = 20_000,
    repeats: int = 3,
    profile: str | None = None,
) -> Outcome:
    from plaudit.clock import FixedClock
    from plaudit.db.session import make_engine

    title = (f"B. finalize vs the leanest exact SELECT and the bare ranking SELECT ({nominations:,} nominations, "
             f"{repeats} cop{'y' if repeats == 1 else 'ies'})")
    if not available():
        return block(
            title,
            ["plaudit.services.ranking.finalize / scoring.ranking_query not available yet"],
            Outcome("B finalize", None, f"<= {TARGET}x leanest SELECT", None, "no service"),
        )
    now = loaders.now_utc()
    clock = FixedClock(now)
    small_users = max(50, round(users * small_nominations / nominations))
    lines: list[str] = []

    def clone_and(template: str, fn):
        name = f"{template}_c{uuid.uuid4().hex[:4]}"
        server.create_database(name, template=template)
        engine = make_engine(server.url_for(name))
        try:
            return fn(engine)
        finally:
            engine.dispose()
            server.drop_database(name)

    # --- the big cycle: timing ---
    log(f"loading {nominations:,} nominations ({users:,} users) with COPY ...")
    big, info = load_template(server, nominations=nominations, users=users, now=now)
    try:
        cycle_id = info["cycle_id"]
        log(f"loaded in {info['load_s']:.1f} s: {info['nominations']:,} nominations, "
            f"{info['approvals']:,} approvals, {info['ratings']:,} ratings")
        selects, servers, finals, leans, what_ifs, zscores, digests, bodies = [], [], [], [], [], [], [], []
        ranked = 0
        with psycopg.connect(server.libpq_for(big)) as c:
            cpu = Cpu(postmaster_pid(c))
            crypto = crypto_of(c)

        def timed(engine):
            nonlocal ranked
            time_select(engine, cycle_id)  # warm-up: caches, statement compile
            time_lean(engine, cycle_id)
            s1, rows = cpu("select", time_select, engine, cycle_id)
            l1, lean_rows = cpu("lean", time_lean, engine, cycle_id)
            servers.append(time_server_only(engine, cycle_id))
            s2, _ = cpu("select", time_select, engine, cycle_id)
            l2, _ = cpu("lean", time_lean, engine, cycle_id)
            selects.append(min(s1, s2))
            leans.append(min(l1, l2))
            w, what_if_rows = cpu("what-if", time_what_if, engine, cycle_id)
            what_ifs.append(w)
            digests.append(cpu("digest", time_digest, engine, cycle_id))
            f, ranked_, _, body = cpu("finalize", run_finalize, engine, cycle_id, clock,
                                      profile=profile if not finals else None)
            finals.append(f)
            bodies.append(body)
            ranked = ranked_
            if not rows == lean_rows == what_if_rows == ranked_:
                raise AssertionError(f"rows: SELECT {rows}, lean {lean_rows}, what-if {what_if_rows}, final {ranked_}")
            log(f"copy {len(finals)}: SELECT {s1:.3f}/{s2:.3f} s, lean {l1:.3f}/{l2:.3f} s, "
                f"what-if {w:.3f} s, finalize {f:.3f} s, {ranked_} ranked")

        def timed_zscore(engine):
            use_zscore(engine, cycle_id)
            time_select(engine, cycle_id)  # warm-up
            z, _, _, _ = cpu("finalize zscore", run_finalize, engine, cycle_id, clock)
            zscores.append(z)
            log(f"copy {len(zscores)} (zscore): finalize {z:.3f} s")

        for _ in range(max(1, repeats)):
            clone_and(big, timed)
            clone_and(big, timed_zscore)

        def big_memory(engine):
            return run_finalize(engine, cycle_id, clock, memory=True)

        _, _, peak_big, _ = clone_and(big, big_memory)
    finally:
        server.drop_database(big)

    # --- the small cycle: memory only ---
    log(f"loading {small_nominations:,} nominations ({small_users:,} users) for the memory comparison ...")
    small, sinfo = load_template(server, nominations=small_nominations, users=small_users, now=now)
    try:
        engine = make_engine(server.url_for(small))
        try:
            _, ranked_small, peak_small, _ = run_finalize(engine, sinfo["cycle_id"], clock, memory=True)
        finally:
            engine.dispose()
    finally:
        server.drop_database(small)

    sel, fin, srv, lean, wif, zs = min(selects), min(finals), min(servers), min(leans), min(what_ifs), min(zscores)
    dig = min(digests)
    body = bodies[finals.index(fin)]  # of the best finalize
    ratio, select_ratio, what_if_ratio, zscore_ratio = fin / lean, fin / sel, wif / sel, zs / sel
    mem_ratio = peak_big / peak_small if peak_small else float("inf")
    lines += [
        (
            f"data: {info['nominations']:,} approved nominations, {info['approvals']:,} approvals, "
            f"{info['ratings']:,} ratings, {ranked:,} ranked nominees (load {info['load_s']:.1f} s)"
        ),
        (
            f"bare ranking SELECT (execute + fetch all):  {sel * 1000:9.1f} ms  best of "
            f"{', '.join(f'{x * 1000:.0f}' for x in selects)}"
        ),
        f"  of which server only (count(*) over it): {srv * 1000:9.1f} ms",
        (
            f"finalize + streamed body (as over HTTP):   {fin * 1000:9.1f} ms  best of "
            f"{', '.join(f'{x * 1000:.0f}' for x in finals)}"
        ),
        f"  of which the body (after the commit):  {body * 1000:9.1f} ms",
        (
            f"leanest exact SELECT (numbers only):      {lean * 1000:9.1f} ms  best of "
            f"{', '.join(f'{x * 1000:.0f}' for x in leans)}"
        ),
        (
            f"what-if, other weights (JSON built):     {wif * 1000:9.1f} ms  best of "
            f"{', '.join(f'{x * 1000:.0f}' for x in what_ifs)}"
        ),
        (
            f"finalize with zscore (+ body):           {zs * 1000:9.1f} ms  best of "
            f"{', '.join(f'{x * 1000:.0f}' for x in zscores)}"
        ),
        (
            f"inputs digest recomputed (verify):       {dig * 1000:9.1f} ms  best of "
            f"{', '.join(f'{x * 1000:.0f}' for x in digests)}"
        ),
        f"finalize / leanest SELECT:       {ratio:.3f}   (target <= {TARGET})",
        f"finalize / bare SELECT:          {select_ratio:.3f}   (for the record)",
        f"finalize without the body / leanest:  {(fin - body) / lean:.3f}   (for the record)",
        f"zscore finalize / bare SELECT:   {zscore_ratio:.3f}   (target <= {ZSCORE_TARGET})",
        f"what-if / bare SELECT:           {what_if_ratio:.3f}   (target <= {WHAT_IF_TARGET})",
        "CPU (medians; independent of other load on the machine):",
        *(
            f"  {key + ':':17s}Python {py * 1000:7.0f} ms   PostgreSQL {pg * 1000:7.0f} ms"
            for key in ("select", "lean", "what-if", "digest", "finalize", "finalize zscore")
            for py, pg in [cpu.median(key)]
        ),
        "Python peak memory during finalize (tracemalloc):",
        f"  {small_nominations:>9,} nominations ({ranked_small:,} ranked): {peak_small / 2**20:8.2f} MiB",
        f"  {nominations:>9,} nominations ({ranked:,} ranked): {peak_big / 2**20:8.2f} MiB",
        f"  big / small: {mem_ratio:.2f}   (flat: <= {MEMORY_FLAT})",
        f"server: {crypto}",
    ]
    memory_ok = mem_ratio <= MEMORY_FLAT
    note = []
    if ratio > TARGET:
        note.append("finalize vs leanest")
    if zscore_ratio > ZSCORE_TARGET:
        note.append("zscore")
    if what_if_ratio > WHAT_IF_TARGET:
        note.append("what-if")
    if not memory_ok:
        note.append("memory not flat")
    passed = not note
    return block(
        title,
        lines,
        Outcome(
            "B finalize",
            ratio,
            f"<= {TARGET}x leanest SELECT; zscore <= {ZSCORE_TARGET}x and what-if <= {WHAT_IF_TARGET}x bare SELECT;"
            f" memory flat (<= {MEMORY_FLAT}x)",
            passed,
            "missed: " + ", ".join(note) if note else f"memory x{mem_ratio:.2f}",
        ),
    )
