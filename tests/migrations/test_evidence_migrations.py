"""The tamper-evidence migrations on a database that already holds data:
finalized cycles get their inputs digest, existing audit rows get sealed."""

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from plaudit.db import migrate
from plaudit.db.session import make_engine
from plaudit.models import AuditLog, Cycle
from plaudit.services import audit_chain, ranking
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_rated_nomination, make_user
from tests.migrations.test_migrations import empty_db  # noqa: F401 - the fixture

BEFORE_DIGEST = "9d1891e4503f"  # the revision before the inputs digest


def test_migrating_a_database_with_data_backfills_digests_and_seals_the_log(empty_db):  # noqa: F811
    from plaudit.clock import FixedClock

    migrate.upgrade(empty_db)
    engine = make_engine(empty_db, pool_size=1)
    try:
        with Session(engine) as s, s.begin():
            cycle = make_cycle(s, nominations="after", approvals="after")
            k = make_criterion(s, cycle, weight="1")
            make_rated_nomination(s, cycle, make_user(s), [{k: 4}, {k: 5}])
            ranking.finalize(s, make_user(s, role="admin"), cycle.id, clock=FixedClock(NOW))
            cycle_id, digest = cycle.id, cycle.inputs_digest
            for i in range(3):
                s.execute(text("INSERT INTO audit_logs (action, entity_type, entity_id, payload)"
                               " VALUES ('user.update', 'user', :e, :p)"), {"e": uuid.uuid4(), "p": f'{{"n": {i}}}'})
        engine.dispose()

        migrate.downgrade(empty_db, BEFORE_DIGEST)
        migrate.upgrade(empty_db)

        with Session(engine) as s:
            assert s.get(Cycle, cycle_id).inputs_digest == digest
            report = audit_chain.verify(s)
            total = s.scalar(select(func.count()).select_from(AuditLog))
            assert (report.ok, report.sealed, report.unsealed) == (True, total, 0)
            # Rows from before the chain come first, in insertion order.
            seqs = s.scalars(text("SELECT a.seq FROM audit_seals s JOIN audit_logs a ON a.id = s.audit_id"
                                  " ORDER BY s.position")).all()
            assert seqs == sorted(seqs) and len(seqs) == total
    finally:
        engine.dispose()
