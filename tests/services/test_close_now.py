"""Close now (DOMAIN.md "Cycles": close nominations, close approvals)."""

from datetime import timedelta

import pytest

from plaudit.clock import FixedClock
from plaudit.errors import CycleState, Forbidden, InvalidWindows, NotFound, WindowClosed
from plaudit.models import Cycle
from plaudit.services import cycles as svc
from plaudit.services.ranking import finalize_cycle
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle
from tests.helpers import audit_rows

D = timedelta(days=1)


def test_close_nominations_sets_its_closing_bound_to_now(session, admin):
    cycle = make_cycle(session)  # both windows open
    old = cycle.nomination_closes_at
    approval_closes_at = cycle.approval_closes_at
    svc.close_nominations(session, admin, cycle.id, now=NOW)
    assert cycle.nomination_closes_at == NOW
    assert cycle.approval_closes_at == approval_closes_at
    assert not svc.nominations_open(cycle, NOW) and svc.approvals_open(cycle, NOW)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert (row.action, row.actor_id) == ("cycle.update", admin.id)
    assert row.payload == {
        "before": {"nomination_closes_at": old.isoformat()},
        "after": {"nomination_closes_at": NOW.isoformat()},
    }


def test_close_approvals_also_closes_a_later_nomination_window(session, admin):
    cycle = make_cycle(session)  # nominations close in 5 days, approvals in 6
    old_n, old_a = cycle.nomination_closes_at, cycle.approval_closes_at
    svc.close_approvals(session, admin, cycle.id, now=NOW)
    assert (cycle.nomination_closes_at, cycle.approval_closes_at) == (NOW, NOW)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.action == "cycle.update"
    assert row.payload == {
        "before": {"nomination_closes_at": old_n.isoformat(), "approval_closes_at": old_a.isoformat()},
        "after": {"nomination_closes_at": NOW.isoformat(), "approval_closes_at": NOW.isoformat()},
    }


def test_close_approvals_keeps_an_earlier_nomination_close(session, admin):
    cycle = make_cycle(session, nominations="after", approvals="open")
    closed_at = cycle.nomination_closes_at
    svc.close_approvals(session, admin, cycle.id, now=NOW)
    assert (cycle.nomination_closes_at, cycle.approval_closes_at) == (closed_at, NOW)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert set(row.payload["after"]) == {"approval_closes_at"}


def test_finalize_works_at_the_same_instant_as_close_approvals(session, admin):
    cycle = make_cycle(session)
    make_criterion(session, cycle)
    svc.close_approvals(session, admin, cycle.id, now=NOW)
    assert finalize_cycle(session, admin, cycle.id, clock=FixedClock(NOW)).status == "finalized"


@pytest.mark.parametrize(
    ("close", "nominations", "approvals"),
    [
        (svc.close_nominations, "before", "before"),  # not open yet
        (svc.close_nominations, "after", "open"),  # already closed
        (svc.close_approvals, "open", "before"),
        (svc.close_approvals, "after", "after"),
    ],
)
def test_closing_a_window_that_is_not_open_is_window_closed(session, admin, close, nominations, approvals):
    cycle = make_cycle(session, nominations=nominations, approvals=approvals)
    before = {f: getattr(cycle, f) for f in svc.WINDOW_FIELDS}
    with pytest.raises(WindowClosed):
        close(session, admin, cycle.id, now=NOW)
    assert {f: getattr(cycle, f) for f in svc.WINDOW_FIELDS} == before
    assert audit_rows(session) == []


@pytest.mark.parametrize("close", [svc.close_nominations, svc.close_approvals])
@pytest.mark.parametrize("status", ["finalized", "archived"])
def test_only_a_published_cycle_closes(session, admin, close, status):
    cycle = make_cycle(session, status=status)
    with pytest.raises(CycleState):
        close(session, admin, cycle.id, now=NOW)
    assert audit_rows(session) == []


@pytest.mark.parametrize("close", [svc.close_nominations, svc.close_approvals])
def test_a_draft_is_cycle_state_for_admins_and_not_found_for_others(session, admin, employee, close):
    draft = make_cycle(session, status="draft")
    with pytest.raises(CycleState):
        close(session, admin, draft.id, now=NOW)
    with pytest.raises(NotFound):
        close(session, employee, draft.id, now=NOW)


@pytest.mark.parametrize("close", [svc.close_nominations, svc.close_approvals])
def test_only_admins_close(session, employee, close):
    cycle = make_cycle(session)
    with pytest.raises(Forbidden):
        close(session, employee, cycle.id, now=NOW)
    assert audit_rows(session) == []


def test_the_command_line_may_close(session):
    cycle = make_cycle(session)
    svc.close_nominations(session, None, cycle.id, now=NOW)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.actor_id is None


def test_a_window_cannot_close_at_the_instant_it_opens(session, admin):
    cycle = make_cycle(session, nominations="before", approvals="before")
    opening = cycle.nomination_opens_at
    with pytest.raises(InvalidWindows):
        svc.close_nominations(session, admin, cycle.id, now=opening)
    assert session.get(Cycle, cycle.id).nomination_closes_at > opening
    assert audit_rows(session) == []
