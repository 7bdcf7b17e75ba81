"""I. The audit hash chain: sealing rate and a full `audit verify`.

Data: `--audit-rows` (1,000,000) `nomination.create`-like audit rows written
by PostgreSQL itself (INSERT ... SELECT) in transactions of 10,000, so they
carry as many distinct txids; none sealed. Then, timed:

- sealing: `audit_chain.seal_pending` (what `plaudit audit seal` and the
  server's timer run: `audit_seal(10000)` per committed transaction) until
  every row is sealed; rows per second. Target: >= 20,000 rows/s.
- verifying: `audit_chain.verify` over the whole chain (every hash
  recomputed in Python from the rows' canonical text); printed, no target.
"""

from __future__ import annotations

import time

import psycopg

from bench.common import Outcome, Server, block, log, postmaster_pid, tree_cpu

TARGET = 20_000  # rows sealed per second
PER_TRANSACTION = 10_000

WRITE = """
INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, payload, request_id)
SELECT gen_random_uuid(), 'nomination.create', 'nomination', gen_random_uuid(),
       jsonb_build_object('after', jsonb_build_object(
           'cycle_id', gen_random_uuid(), 'nominator_id', gen_random_uuid(), 'nominee_id', gen_random_uuid(),
           'justification', 'Consistently goes above and beyond for the team.', 'status', 'pending')),
       md5(i::text)
FROM generate_series(1, %s) AS i
"""


def run(server: Server, *, rows: int = 1_000_000) -> Outcome:
    from plaudit.db.session import make_engine, make_sessionmaker
    from plaudit.services import audit_chain

    title = f"I. audit hash chain: seal and verify {rows:,} audit rows"
    with server.fresh_database("audit") as db:
        started = time.perf_counter()
        with psycopg.connect(server.libpq_for(db)) as conn:
            # No actor rows exist: the foreign key is not what is measured here.
            conn.execute("ALTER TABLE audit_logs DROP CONSTRAINT fk_audit_logs_actor_id_users")
            conn.commit()
            for done in range(0, rows, PER_TRANSACTION):
                conn.execute(WRITE, (min(PER_TRANSACTION, rows - done),))
                conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE audit_logs")
            pg_pid = postmaster_pid(conn)
        log(f"wrote {rows:,} audit rows in {time.perf_counter() - started:.1f} s")

        engine = make_engine(server.url_for(db), pool_size=1)
        factory = make_sessionmaker(engine)
        try:
            py0, pg0, t0 = time.process_time(), tree_cpu(pg_pid), time.perf_counter()
            sealed = audit_chain.seal_pending(factory)
            seal_s = time.perf_counter() - t0
            seal_py, seal_pg = time.process_time() - py0, (tree_cpu(pg_pid) or 0) - (pg0 or 0)
            log(f"sealed {sealed:,} rows in {seal_s:.1f} s")

            py0, pg0, t0 = time.process_time(), tree_cpu(pg_pid), time.perf_counter()
            with factory() as session:
                report = audit_chain.verify(session)
            verify_s = time.perf_counter() - t0
            verify_py, verify_pg = time.process_time() - py0, (tree_cpu(pg_pid) or 0) - (pg0 or 0)
        finally:
            engine.dispose()

    rate = sealed / seal_s
    lines = [
        f"sealing ({audit_chain.BATCH:,} rows per transaction): {sealed:,} rows in {seal_s:.2f} s = "
        f"{rate:,.0f} rows/s (CPU: Python {seal_py:.2f} s, PostgreSQL {seal_pg:.2f} s)",
        f"audit verify: {report.sealed:,} rows in {verify_s:.2f} s = {report.sealed / verify_s:,.0f} rows/s "
        f"(CPU: Python {verify_py:.2f} s, PostgreSQL {verify_pg:.2f} s); {audit_chain.describe(report)[:60]}...",
    ]
    ok = sealed == rows and report.ok and report.sealed == rows and rate >= TARGET
    return block(title, lines, Outcome("I audit seal rate", rate / TARGET, f">= 1 ({TARGET:,} rows/s)", ok))
