"""Rules 7 and 8 and the approval upsert under real concurrency: N threads,
each with its own session and connection on a really-committing database,
released together by a barrier (DOMAIN.md: "two simultaneous requests ...
must never both succeed where one would be refused")."""

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from plaudit.clock import FixedClock
from plaudit.errors import DomainError
from plaudit.models import Approval, AuditLog, Nomination, User
from plaudit.services import approvals, nominations
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_nomination, make_team, make_user

THREADS = 8
JUSTIFICATION = "Kept the lights on during the migration."


def race(engine: Engine, n: int, work: Callable[[Session, int], Any]) -> list[tuple[str, Any]]:
    """Run `work(session, i)` in `n` threads started together; each commits on
    success. Returns ("ok", result) or ("error", code) per thread."""
    barrier = threading.Barrier(n)
    results: list[tuple[str, Any]] = [("missing", None)] * n

    def worker(i: int) -> None:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait(timeout=30)
            try:
                out = work(session, i)
                session.commit()
                results[i] = ("ok", out)
            except DomainError as exc:
                session.rollback()
                results[i] = ("error", exc.code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a worker hung"
    return results


def arrange(engine: Engine, build: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
    """Build rows in a committed transaction; returns their ids."""
    with Session(engine, expire_on_commit=False) as session:
        ids = build(session)
        session.commit()
    return ids


def count(engine: Engine, stmt) -> int:
    with Session(engine) as session:
        return session.scalar(stmt)


@pytest.mark.parametrize("quota", [None, 5])
def test_racing_duplicate_nominations_create_exactly_one(committed_db, quota):
    def build(s):
        cycle = make_cycle(s, max_nominations_per_nominator=quota)
        make_criterion(s, cycle)
        return {"cycle": cycle.id, "nominator": make_user(s).id, "nominee": make_user(s).id}

    ids = arrange(committed_db, build)
    clock = FixedClock(NOW)

    def work(session: Session, i: int):
        actor = session.get(User, ids["nominator"])
        return nominations.create_nomination(
            session, actor, ids["cycle"], nominee_id=ids["nominee"], justification=JUSTIFICATION, clock=clock
        ).id

    results = race(committed_db, THREADS, work)
    outcomes = Counter(kind if kind == "ok" else code for kind, code in results)
    assert outcomes == {"ok": 1, "duplicate_nomination": THREADS - 1}
    assert count(committed_db, select(func.count()).select_from(Nomination)) == 1
    assert count(committed_db, select(func.count()).where(AuditLog.action == "nomination.create")) == 1


def test_racing_distinct_nominations_respect_the_quota(committed_db):
    def build(s):
        cycle = make_cycle(s, max_nominations_per_nominator=2)
        make_criterion(s, cycle)
        return {
            "cycle": cycle.id,
            "nominator": make_user(s).id,
            "nominees": [make_user(s).id for _ in range(THREADS)],
        }

    ids = arrange(committed_db, build)
    clock = FixedClock(NOW)

    def work(session: Session, i: int):
        actor = session.get(User, ids["nominator"])
        return nominations.create_nomination(
            session, actor, ids["cycle"], nominee_id=ids["nominees"][i], justification=JUSTIFICATION, clock=clock
        ).id

    results = race(committed_db, THREADS, work)
    outcomes = Counter(kind if kind == "ok" else code for kind, code in results)
    assert outcomes == {"ok": 2, "quota_exceeded": THREADS - 2}
    assert count(committed_db, select(func.count()).select_from(Nomination)) == 2
    assert count(committed_db, select(func.count()).where(AuditLog.action == "nomination.create")) == 2


def test_racing_submits_by_one_approver_make_one_approval(committed_db):
    def build(s):
        cycle = make_cycle(s)
        criterion = make_criterion(s, cycle)
        manager = make_user(s, role="manager")
        nominee = make_user(s, team=make_team(s, manager=manager))
        nomination = make_nomination(s, cycle, make_user(s), nominee)
        return {"criterion": criterion.id, "manager": manager.id, "nomination": nomination.id}

    ids = arrange(committed_db, build)
    clock = FixedClock(NOW)

    def work(session: Session, i: int):
        actor = session.get(User, ids["manager"])
        _, created, status = approvals.submit_approval(
            session, actor, ids["nomination"], decision="approve",
            ratings=[{"criterion_id": ids["criterion"], "value": 4}], clock=clock,
        )
        return created, status

    results = race(committed_db, THREADS, work)
    assert all(kind == "ok" for kind, _ in results), results
    assert sorted(created for _, (created, _) in results) == [False] * (THREADS - 1) + [True]
    assert {status for _, (_, status) in results} == {"approved"}
    assert count(committed_db, select(func.count()).select_from(Approval)) == 1
    # Identical resubmits change nothing: one audit row in all.
    assert count(committed_db, select(func.count()).where(AuditLog.action == "approval.submit")) == 1


def test_two_approvers_approving_together_reach_required_approvals(committed_db):
    rounds = 5

    def build(s):
        cycle = make_cycle(s, required_approvals=2)
        criterion = make_criterion(s, cycle)
        manager = make_user(s, role="manager")
        admin = make_user(s, role="admin")
        team = make_team(s, manager=manager)
        nominator = make_user(s)
        noms = [make_nomination(s, cycle, nominator, make_user(s, team=team)).id for _ in range(rounds)]
        return {"criterion": criterion.id, "approvers": [manager.id, admin.id], "nominations": noms}

    ids = arrange(committed_db, build)
    clock = FixedClock(NOW)

    for nomination_id in ids["nominations"]:
        def work(session: Session, i: int, nomination_id: uuid.UUID = nomination_id):
            actor = session.get(User, ids["approvers"][i])
            return approvals.submit_approval(
                session, actor, nomination_id, decision="approve",
                ratings=[{"criterion_id": ids["criterion"], "value": 3}], clock=clock,
            )[2]

        results = race(committed_db, 2, work)
        assert all(kind == "ok" for kind, _ in results), results
        assert sorted(status for _, status in results) == ["approved", "pending"]
        with Session(committed_db) as s:
            assert s.get(Nomination, nomination_id).status == "approved"
            payloads = s.scalars(
                select(AuditLog.payload).where(AuditLog.action == "approval.submit")
                .join(Approval, Approval.id == AuditLog.entity_id)
                .where(Approval.nomination_id == nomination_id)
            ).all()
            assert sorted(p["nomination_status"]["after"] for p in payloads) == ["approved", "pending"]
