"""A. Service-level create-nomination throughput beside a raw psycopg baseline.

Service: one transaction per nomination (`with session_factory() as s,
s.begin(): create_nomination(...)`), i.e. every rule check, the insert and
the audit row, committed. Baseline: one psycopg transaction per nomination
holding the two prepared INSERTs (nomination + audit row), autocommit off.

Both run in the same database, in alternating rounds (baseline, service,
baseline, service, ...) on distinct (nominator, nominee) pairs of their own
published cycle (open windows, no quota: the default; the service's cycle has
a winner cool-down of 3 over 5 finished cycles, so check 7 reads the award
history on every create), so drift (other load
on the machine, table growth) hits both alike. A third side, for the record
and not the target, runs the service in a cycle with a quota (never reached),
whose create path takes the nominator's lock and counts before inserting: two
round trips more. A fourth side runs the service while the audit sealer
runs beside it, in its own process as a worker would, sealing every
`SEAL_INTERVAL` seconds (shorter than the production default, so that each
round sees several sealings): its targets are >= 60 % of raw and within 5 %
of the service without it. Each side's rate is its best round
(like `timeit`: other load only ever slows a round down); the overall rates
and the CPU per nomination (which other load barely moves) are printed too.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from bench import loaders
from bench.common import Outcome, Server, block, libpq, log, postmaster_pid, tree_cpu
from plaudit.models.enums import Role

COOLDOWN = 3  # the service cycle's winner_cooldown_cycles

TARGET = 0.60
SEALING_TARGET = 0.95  # the service with sealing running / without
SEAL_INTERVAL = 0.25
JUSTIFICATION = "Consistently goes above and beyond for the team."


@dataclass
class Pairs:
    cycle_id: uuid.UUID
    pairs: list[tuple[uuid.UUID, uuid.UUID]]  # (nominator_id, nominee_id)


def _pairs(cycle_id: uuid.UUID, nominators: list[uuid.UUID], nominees: list[uuid.UUID], n: int) -> Pairs:
    per = -(-n // len(nominators))
    if per > len(nominees):
        raise ValueError("not enough nominees for distinct pairs")
    pairs = [(nominators[i % len(nominators)], nominees[i // len(nominators)]) for i in range(n)]
    return Pairs(cycle_id, pairs)


INSERT_NOMINATION = (
    "INSERT INTO nominations (id, cycle_id, nominator_id, nominee_id, justification, status)"
    " VALUES (%s, %s, %s, %s, %s, 'pending')"
)
INSERT_AUDIT = (
    "INSERT INTO audit_logs (id, actor_id, action, entity_type, entity_id, payload)"
    " VALUES (%s, %s, 'nomination.create', 'nomination', %s, %s)"
)


def run_raw(conn: psycopg.Connection, cycle_id: uuid.UUID, pairs) -> float:
    """The baseline: per nomination one transaction with two prepared INSERTs. Returns seconds."""
    cycle = str(cycle_id)
    started = time.perf_counter()
    with conn.cursor() as cur:
        for nominator, nominee in pairs:
            nid = uuid.uuid4()
            cur.execute(INSERT_NOMINATION, (nid, cycle_id, nominator, nominee, JUSTIFICATION), prepare=True)
            payload = {
                "after": {
                    "cycle_id": cycle,
                    "nominator_id": str(nominator),
                    "nominee_id": str(nominee),
                    "justification": JUSTIFICATION,
                    "status": "pending",
                }
            }
            cur.execute(INSERT_AUDIT, (uuid.uuid4(), nominator, nid, Jsonb(payload)), prepare=True)
            conn.commit()
    return time.perf_counter() - started


def service_available() -> bool:
    try:
        from plaudit.services.nominations import create_nomination  # noqa: F401
    except ImportError:
        return False
    return True


def run_service(session_factory, actors: dict, cycle_id: uuid.UUID, pairs, clock) -> float:
    """The service: per nomination one committed session transaction. Returns seconds."""
    from plaudit.services.nominations import create_nomination

    started = time.perf_counter()
    for nominator, nominee in pairs:
        with session_factory() as s, s.begin():
            create_nomination(
                s, actors[nominator], cycle_id, nominee_id=nominee, justification=JUSTIFICATION, clock=clock
            )
    return time.perf_counter() - started


def run_sealed(url: str, run_round) -> tuple[float, int]:
    """`run_round()` while `bench.sealer` seals every SEAL_INTERVAL seconds in
    its own process (started before, stopped after: its start-up is not
    timed). Returns the round's seconds and the rows sealed meanwhile."""
    sealer = subprocess.Popen(
        [sys.executable, "-m", "bench.sealer", url, str(SEAL_INTERVAL)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert sealer.stdout.readline().strip() == "ready"
        with psycopg.connect(libpq(url)) as conn:
            before = conn.execute("SELECT count(*) FROM audit_seals").fetchone()[0]
            elapsed = run_round()
            after = conn.execute("SELECT count(*) FROM audit_seals").fetchone()[0]
    finally:
        sealer.stdin.close()
        sealer.wait(timeout=30)
    return elapsed, after - before


def run(
    server: Server, *, nominations: int = 3000, rounds: int = 5, profile: str | None = None
) -> list[Outcome]:
    from sqlalchemy import select

    from plaudit.clock import FixedClock
    from plaudit.db.session import make_engine, make_sessionmaker
    from plaudit.models import User

    title = f"A. create_nomination service vs raw psycopg INSERTs ({nominations} each, {rounds} rounds)"
    have_service = service_available()
    with server.fresh_database("create") as db:
        now = loaders.now_utc()
        clock = FixedClock(now)
        nominators_n = max(1, min(500, nominations // 10))
        with psycopg.connect(server.libpq_for(db)) as conn:
            nominators = loaders.make_users(conn, nominators_n, role=Role.employee, tag="nominator")
            per = -(-nominations // nominators_n)
            nominees = loaders.make_users(conn, per, role=Role.employee, tag="nominee")
            raw_cycle = loaders.make_cycle(conn, now=now, phase="nominating", name="Raw baseline")
            # The judged side checks eligibility too: a cool-down of 3 over a history of
            # 5 finished cycles that ranked every nominee (never a winner) and others who won.
            svc_cycle = loaders.make_cycle(
                conn, now=now, phase="nominating", name="Service", winner_cooldown_cycles=COOLDOWN
            )
            quota_cycle = loaders.make_cycle(
                conn, now=now, phase="nominating", name="Service, quota", max_nominations_per_nominator=per + 1
            )
            sealed_cycle = loaders.make_cycle(conn, now=now, phase="nominating", name="Service, sealing")
            winners = loaders.make_users(conn, 20, role=Role.employee, tag="winner")
            loaders.finish_cycles(conn, now=now, count=5, ranked=nominees, winners=winners)
            conn.commit()
            conn.execute("ANALYZE")
            conn.commit()
            pg_pid = postmaster_pid(conn)
        raw = _pairs(raw_cycle.cycle_id, nominators, nominees, nominations)
        svc = _pairs(svc_cycle.cycle_id, nominators, nominees, nominations)
        quota = _pairs(quota_cycle.cycle_id, nominators, nominees, nominations)
        sealing = _pairs(sealed_cycle.cycle_id, nominators, nominees, nominations)

        engine = make_engine(server.url_for(db))
        factory = make_sessionmaker(engine)
        with factory() as s:
            actors = {u.id: u for u in s.scalars(select(User).where(User.id.in_(nominators)))}
            s.expunge_all()
        raw_conn = psycopg.connect(server.libpq_for(db), options="-c timezone=UTC")
        try:
            # Warm-up, untimed: connections, prepared statements, imports, caches.
            warm = max(1, min(50, nominations // 20))
            run_raw(raw_conn, raw.cycle_id, raw.pairs[:warm])
            if have_service:
                run_service(factory, actors, svc.cycle_id, svc.pairs[:warm], clock)
                run_service(factory, actors, quota.cycle_id, quota.pairs[:warm], clock)
                run_service(factory, actors, sealing.cycle_id, sealing.pairs[:warm], clock)
            raw_rest, svc_rest, quota_rest = raw.pairs[warm:], svc.pairs[warm:], quota.pairs[warm:]
            sealing_rest = sealing.pairs[warm:]
            raw_s = svc_s = 0.0
            # CPU seconds: this process (psycopg / SQLAlchemy + service) and the PostgreSQL server.
            cpu = {"raw": [0.0, 0.0], "service": [0.0, 0.0]}

            def metered(side, fn, *a):
                py0, pg0 = time.process_time(), tree_cpu(pg_pid)
                elapsed = fn(*a)
                pg1 = tree_cpu(pg_pid)
                cpu[side][0] += time.process_time() - py0
                cpu[side][1] += (pg1 - pg0) if pg0 is not None and pg1 is not None else float("nan")
                return elapsed

            raw_rates, svc_rates, quota_rates, sealing_rates, sealed_rows = [], [], [], [], 0
            size = -(-len(raw_rest) // rounds)
            for r in range(rounds):
                chunk = slice(r * size, (r + 1) * size)
                t = metered("raw", run_raw, raw_conn, raw.cycle_id, raw_rest[chunk])
                raw_s += t
                raw_rates.append(len(raw_rest[chunk]) / t)
                if have_service:
                    if profile and r == rounds - 1:
                        import cProfile

                        prof = cProfile.Profile()
                        prof.enable()
                    t = metered("service", run_service, factory, actors, svc.cycle_id, svc_rest[chunk], clock)
                    if profile and r == rounds - 1:
                        prof.disable()
                        prof.dump_stats(profile)
                        log(f"cProfile of the last service round written to {profile}")
                    svc_s += t
                    svc_rates.append(len(svc_rest[chunk]) / t)
                    t = run_service(factory, actors, quota.cycle_id, quota_rest[chunk], clock)
                    quota_rates.append(len(quota_rest[chunk]) / t)
                    t, sealed = run_sealed(
                        server.url_for(db),
                        lambda c=chunk: run_service(factory, actors, sealing.cycle_id, sealing_rest[c], clock),
                    )
                    sealing_rates.append(len(sealing_rest[chunk]) / t)
                    sealed_rows += sealed
            with raw_conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM nominations WHERE cycle_id = %s", (svc.cycle_id,))
                svc_rows = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM audit_logs WHERE action = 'nomination.create'")
                audit_rows = cur.fetchone()[0]
            raw_conn.commit()
        finally:
            raw_conn.close()
            engine.dispose()

    raw_rate = max(raw_rates)
    lines = [
        (
            f"raw psycopg (2 prepared INSERTs + COMMIT): {raw_rate:8.1f} nominations/s best round "
            f"({1000 / raw_rate:.2f} ms each; rounds {', '.join(f'{x:.0f}' for x in raw_rates)}; "
            f"overall {len(raw_rest) / raw_s:.0f})"
        ),
    ]
    if not have_service:
        lines.append("service: plaudit.services.nominations.create_nomination not available yet")
        missing = Outcome("A create_nomination", None, f">= {TARGET:.0%} of raw", None, "no service")
        return [block(title, lines, missing)]
    svc_rate = max(svc_rates)
    ratio = svc_rate / raw_rate
    lines.append(
        f"service create_nomination + COMMIT:        {svc_rate:8.1f} nominations/s best round "
        f"({1000 / svc_rate:.2f} ms each; rounds {', '.join(f'{x:.0f}' for x in svc_rates)}; "
        f"overall {len(svc_rest) / svc_s:.0f})"
    )
    quota_rate = max(quota_rates)
    lines.append(
        f"service, cycle with a quota:              {quota_rate:8.1f} nominations/s best round "
        f"({1000 / quota_rate:.2f} ms each; {quota_rate / raw_rate:.3f} of raw; for the record, not the target)"
    )
    n = len(svc_rest)
    lines.append("CPU per nomination (independent of other load on the machine):")
    for side in ("raw", "service"):
        py, pg = cpu[side]
        lines.append(f"  {side:8} Python {py / n * 1000:6.3f} ms   PostgreSQL {pg / n * 1000:6.3f} ms")
    (rpy, rpg), (spy, spg) = cpu["raw"], cpu["service"]
    if not (math.isnan(rpg) or math.isnan(spg)):
        lines.append(f"  CPU-cost ratio (raw CPU / service CPU): {(rpy + rpg) / (spy + spg):.3f}")
    sealing_rate = max(sealing_rates)
    sealing_ratio = sealing_rate / svc_rate
    lines.append(
        f"service, audit sealer running beside it:  {sealing_rate:8.1f} nominations/s best round "
        f"({sealing_rate / raw_rate:.3f} of raw, {sealing_ratio:.3f} of the service without it; rounds "
        f"{', '.join(f'{x:.0f}' for x in sealing_rates)}; {sealed_rows} audit rows sealed during those rounds, "
        f"every {SEAL_INTERVAL} s)"
    )
    lines.append(f"rows written by the service: {svc_rows} nominations; audit rows (all sides): {audit_rows}")
    sealing_ok = sealing_rate / raw_rate >= TARGET and sealing_ratio >= SEALING_TARGET
    return [
        block(
            title,
            lines,
            Outcome("A create_nomination", ratio, f">= {TARGET:.2f} (service rate / raw rate)", ratio >= TARGET),
        ),
        Outcome(
            "A with sealing running",
            sealing_ratio,
            f">= {SEALING_TARGET:.2f} of A without it, >= {TARGET:.2f} of raw ({sealing_rate / raw_rate:.3f})",
            sealing_ok,
        ),
    ]


if __name__ == "__main__":  # python -m bench.create_nomination
    from bench.common import bench_server

    run(bench_server())
