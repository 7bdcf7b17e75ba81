"""Concurrent finalization on a database whose transactions really commit.

Several threads, each with its own connection and transaction, finalize the
same cycle at once. The cycle row lock (SELECT ... FOR UPDATE) serializes
them: the first writes the results and the audit row, the others wait, then
see a finalized cycle and return the stored results. Exactly one set of
result rows, one audit row, and identical bodies for every caller.
"""

import json
import threading
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from plaudit.clock import FixedClock
from plaudit.models import AuditLog, CycleResult, User
from plaudit.services import ranking
from tests.conftest import NOW
from tests.factories import make_approval, make_criterion, make_cycle, make_nomination, make_user

RACERS = 8


def _arrange(factory: sessionmaker[Session]):
    with factory() as session, session.begin():
        admin = make_user(session, role="admin")
        cycle = make_cycle(session, nominations="after", approvals="after", award_slots=2)
        a = make_criterion(session, cycle, name="A", weight="0.5000", position=0)
        b = make_criterion(session, cycle, name="B", weight="0.5000", position=1)
        for i in range(6):
            nomination = make_nomination(session, cycle, make_user(session), make_user(session), status="approved")
            make_approval(session, nomination, make_user(session, role="admin"), ratings={a: 1 + i % 5, b: 5 - i % 3})
        return admin.id, cycle.id


def test_concurrent_finalizes_write_one_set_of_rows_and_one_audit_row(committed_db):
    factory = sessionmaker(committed_db, expire_on_commit=False)
    admin_id, cycle_id = _arrange(factory)
    barrier = threading.Barrier(RACERS)
    bodies: list[str] = []
    errors: list[BaseException] = []

    def race(offset: int) -> None:
        # Each racer's clock differs: only the winner's time may be stored.
        clock = FixedClock(NOW + timedelta(seconds=offset))
        try:
            with factory() as session:
                admin = session.get(User, admin_id)
                barrier.wait(timeout=10)
                body = ranking.finalize(session, admin, cycle_id, clock=clock).model_dump_json()
                session.commit()
                bodies.append(body)
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(bodies) == RACERS
    assert len(set(bodies)) == 1

    with factory() as session:
        rows = session.scalar(select(func.count()).select_from(CycleResult).where(CycleResult.cycle_id == cycle_id))
        audits = session.scalars(
            select(AuditLog).where(AuditLog.entity_id == cycle_id, AuditLog.action == "cycle.finalize")
        ).all()
    assert rows == 6
    assert len(audits) == 1
    assert audits[0].payload["ranked"] == 6
    stored_at = datetime.fromisoformat(audits[0].payload["after"]["finalized_at"])
    assert datetime.fromisoformat(json.loads(bodies[0])["finalized_at"]) == stored_at
    assert NOW <= stored_at < NOW + timedelta(seconds=RACERS)
