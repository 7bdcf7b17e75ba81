"""The approver's queue (DOMAIN.md "The approver's queue") and its progress counts."""

from datetime import timedelta

import pytest

from plaudit.clock import FixedClock
from plaudit.services import nominations as svc
from tests.conftest import NOW
from tests.factories import make_approval, make_cycle, make_nomination, make_org, make_team, make_user

D = timedelta(days=1)


@pytest.fixture
def org(session):
    return make_org(session)


def queue(session, actor, clock, **kw):
    return [n.id for n in svc.approval_queue(session, actor, clock=clock, **kw).items]


def test_queue_holds_exactly_the_pending_nominations_the_caller_may_decide_now(session, clock, org):
    cycle = make_cycle(session)
    waiting = make_nomination(session, cycle, org.nominator, org.nominee)
    # Excluded, one reason each:
    decided = make_nomination(session, cycle, org.stranger, org.nominee)
    make_approval(session, decided, org.manager)
    mine = make_nomination(session, cycle, org.manager, org.nominee)  # conflict: the caller nominated
    own_team = make_team(session, manager=org.manager)  # conflict: the caller is the nominee
    org.manager.team_id = own_team.id
    about_me = make_nomination(session, cycle, org.nominator, org.manager)
    not_my_team = make_nomination(session, cycle, org.nominator, make_user(session))
    withdrawn = make_nomination(session, cycle, make_user(session), org.nominee, status="withdrawn")
    approved = make_nomination(session, cycle, make_user(session), org.nominee, status="approved")
    rejected = make_nomination(session, cycle, make_user(session), org.nominee, status="rejected")
    closed = make_nomination(session, make_cycle(session, nominations="after", approvals="after"), org.nominator,
                             org.nominee)
    not_yet = make_nomination(session, make_cycle(session, approvals="before"), org.nominator, org.nominee)
    finalized = make_nomination(
        session, make_cycle(session, status="finalized", nominations="after", approvals="open"), org.nominator,
        org.nominee,
    )
    assert queue(session, org.manager, clock) == [waiting.id]
    # An admin approves everything, but not what they decided or made, nor what is about them.
    admin_mine = make_nomination(session, cycle, org.admin, org.nominee)
    about_admin = make_nomination(session, cycle, org.nominator, org.admin)
    admin_queue = set(queue(session, org.admin, clock))
    assert admin_queue == {waiting.id, decided.id, mine.id, about_me.id, not_my_team.id}
    assert not admin_queue & {admin_mine.id, about_admin.id, withdrawn.id, approved.id, rejected.id, closed.id,
                              not_yet.id, finalized.id}
    # Employees and inactive approvers have an empty queue.
    assert queue(session, org.nominator, clock) == []
    org.manager.is_active = False
    assert queue(session, org.manager, clock) == []


def test_queue_order_deadline_then_fewest_decisions_then_created_at_then_id(session, org):
    clock = FixedClock(NOW)
    later = make_cycle(session, approval_closes_at=NOW + 6 * D)
    sooner = make_cycle(session, nomination_closes_at=NOW + 2 * D, approval_closes_at=NOW + 3 * D, required_approvals=3)
    nominees = [make_user(session, team=org.team) for _ in range(5)]
    in_later = make_nomination(session, later, org.nominator, nominees[0])
    two_decisions = make_nomination(session, sooner, org.nominator, nominees[1])
    for _ in range(2):
        make_approval(session, two_decisions, make_user(session, role="admin"))
    one_decision = make_nomination(session, sooner, org.nominator, nominees[2])
    make_approval(session, one_decision, make_user(session, role="admin"))
    newer = make_nomination(session, sooner, org.nominator, nominees[3])
    older = make_nomination(session, sooner, org.nominator, nominees[4])
    older.created_at = newer.created_at - timedelta(minutes=1)
    twins = [make_nomination(session, sooner, make_user(session), n) for n in nominees[3:5]]
    session.flush()
    same_time = sorted([newer, *twins], key=lambda n: n.id)  # one transaction: one created_at
    assert {n.created_at for n in same_time} == {newer.created_at}
    expected = [older.id, *(n.id for n in same_time), one_decision.id, two_decisions.id, in_later.id]
    assert queue(session, org.manager, clock) == expected
    # Keyset pages in the same order.
    seen, cursor = [], None
    while True:
        page = svc.approval_queue(session, org.manager, clock=clock, limit=2, cursor=cursor)
        seen += [n.id for n in page.items]
        if not (cursor := page.next_cursor):
            break
    assert seen == expected
    # The decisions so far are the queue's approvals_count; names come with it.
    first = svc.approval_queue(session, org.manager, clock=clock).items
    assert [n.approvals_count for n in first] == [0, 0, 0, 0, 1, 2, 0]
    assert first[0].cycle_name == sooner.name and first[0].nominee_name == nominees[4].display_name
    # The cycle filter.
    assert queue(session, org.manager, clock, cycle_id=later.id) == [in_later.id]


def test_queue_follows_the_window_at_the_clock(session, org):
    cycle = make_cycle(session)
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    assert queue(session, org.manager, FixedClock(cycle.approval_closes_at - timedelta(microseconds=1))) == [n.id]
    assert queue(session, org.manager, FixedClock(cycle.approval_closes_at)) == []
    assert queue(session, org.manager, FixedClock(cycle.approval_opens_at - timedelta(microseconds=1))) == []


def test_queue_progress_counts_decided_and_waiting(session, clock, org):
    cycle = make_cycle(session, required_approvals=2)
    other = make_cycle(session)
    make_nomination(session, cycle, org.nominator, org.nominee)
    make_nomination(session, other, org.nominator, org.nominee)
    decided = make_nomination(session, cycle, org.stranger, org.nominee)
    make_approval(session, decided, org.manager)
    rejected_by_me = make_nomination(session, cycle, make_user(session), org.nominee, status="rejected")
    make_approval(session, rejected_by_me, org.manager, decision="reject")
    make_nomination(session, cycle, make_user(session), org.nominee, status="approved")  # decided by others
    gone = make_nomination(session, cycle, make_user(session), org.nominee, status="withdrawn")
    make_approval(session, gone, org.manager)
    progress = svc.queue_progress(session, org.manager, clock=clock)
    assert (progress.decided, progress.waiting, progress.total) == (2, 2, 4)
    assert progress.waiting == len(queue(session, org.manager, clock))
    assert svc.queue_progress(session, org.manager, cycle_id=other.id, clock=clock) == svc.QueueProgress(0, 1)
