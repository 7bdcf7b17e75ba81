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

TARGET = 1.5
MEMORY_FLAT = 1.5


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
    Returns (seconds, ranked rows, peak bytes or None)."""
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
    body_bytes = 0
    with factory() as s:
        for chunk in results_chunks(s, cycle):
            body_bytes += len(chunk)
    elapsed = time.perf_counter() - started
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
    return elapsed, ranked, peak


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

    title = (f"B. finalize vs bare ranking SELECT ({nominations:,} nominations, "
             f"{repeats} cop{'y' if repeats == 1 else 'ies'})")
    if not available():
        return block(
            title,
            ["plaudit.services.ranking.finalize / scoring.ranking_query not available yet"],
            Outcome("B finalize", None, f"<= {TARGET}x bare SELECT", None, "no service"),
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
        selects, servers, finals = [], [], []
        ranked = 0
        with psycopg.connect(server.libpq_for(big)) as c:
            cpu = Cpu(postmaster_pid(c))

        def timed(engine):
            nonlocal ranked
            time_select(engine, cycle_id)  # warm-up: caches, statement compile
            s1, rows = cpu("select", time_select, engine, cycle_id)
            servers.append(time_server_only(engine, cycle_id))
            s2, _ = cpu("select", time_select, engine, cycle_id)
            selects.append(min(s1, s2))
            f, ranked_, _ = cpu("finalize", run_finalize, engine, cycle_id, clock,
                                profile=profile if not finals else None)
            finals.append(f)
            ranked = ranked_
            if rows != ranked_:
                raise AssertionError(f"SELECT returned {rows} rows, finalize ranked {ranked_}")
            log(f"copy {len(finals)}: SELECT {s1:.3f}/{s2:.3f} s, finalize {f:.3f} s, {ranked_} ranked")

        for _ in range(max(1, repeats)):
            clone_and(big, timed)

        def big_memory(engine):
            return run_finalize(engine, cycle_id, clock, memory=True)

        _, _, peak_big = clone_and(big, big_memory)
    finally:
        server.drop_database(big)

    # --- the small cycle: memory only ---
    log(f"loading {small_nominations:,} nominations ({small_users:,} users) for the memory comparison ...")
    small, sinfo = load_template(server, nominations=small_nominations, users=small_users, now=now)
    try:
        engine = make_engine(server.url_for(small))
        try:
            _, ranked_small, peak_small = run_finalize(engine, sinfo["cycle_id"], clock, memory=True)
        finally:
            engine.dispose()
    finally:
        server.drop_database(small)

    sel, fin, srv = min(selects), min(finals), min(servers)
    ratio = fin / sel
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
        f"finalize / SELECT: {ratio:.3f}   (target <= {TARGET})",
        "CPU (medians; independent of other load on the machine):",
        "  bare SELECT: Python {:7.0f} ms   PostgreSQL {:7.0f} ms".format(*(x * 1000 for x in cpu.median("select"))),
        "  finalize:    Python {:7.0f} ms   PostgreSQL {:7.0f} ms".format(*(x * 1000 for x in cpu.median("finalize"))),
        "Python peak memory during finalize (tracemalloc):",
        f"  {small_nominations:>9,} nominations ({ranked_small:,} ranked): {peak_small / 2**20:8.2f} MiB",
        f"  {nominations:>9,} nominations ({ranked:,} ranked): {peak_big / 2**20:8.2f} MiB",
        f"  big / small: {mem_ratio:.2f}   (flat: <= {MEMORY_FLAT})",
    ]
    memory_ok = mem_ratio <= MEMORY_FLAT
    passed = ratio <= TARGET and memory_ok
    note = []
    if ratio > TARGET:
        note.append("time")
    if not memory_ok:
        note.append("memory not flat")
    return block(
        title,
        lines,
        Outcome(
            "B finalize",
            ratio,
            f"<= {TARGET}x bare SELECT; memory flat (<= {MEMORY_FLAT}x)",
            passed,
            "missed: " + ", ".join(note) if note else f"memory x{mem_ratio:.2f}",
        ),
    )
