"""Nominations: the eight ordered creation checks, editing, withdrawing,
visibility and listing (DOMAIN.md "Nominations")."""

from datetime import timedelta

import pytest
from sqlalchemy import text

from plaudit import errors
from plaudit.models import Nomination, Team
from plaudit.services import nominations as svc
from tests.factories import (
    Org,
    make_approval,
    make_criterion,
    make_cycle,
    make_nomination,
    make_org,
    make_team,
    make_user,
)
from tests.helpers import audit_rows, row_count

JUSTIFICATION = "Shipped the billing rewrite and mentored two new hires."


def nomination_count(session) -> int:
    return row_count(session, Nomination)


@pytest.fixture
def org(session) -> Org:
    return make_org(session)


@pytest.fixture
def cycle(session):
    c = make_cycle(session)
    make_criterion(session, c)
    return c


def create(session, clock, actor, cycle, nominee, justification=JUSTIFICATION):
    return svc.create_nomination(
        session, actor, cycle.id, nominee_id=nominee.id if hasattr(nominee, "id") else nominee,
        justification=justification, clock=clock,
    )


def assert_refused(session, exc, fn, *args, **kwargs):
    """The call raises `exc`, and leaves no audit row and no new nomination."""
    audits, rows = len(audit_rows(session)), nomination_count(session)
    with pytest.raises(exc):
        fn(*args, **kwargs)
    assert len(audit_rows(session)) == audits
    assert nomination_count(session) == rows


# --------------------------------------------------------------------------- create: success


def test_create_makes_a_pending_nomination_with_a_trimmed_justification_and_audits_it(session, clock, org, cycle):
    nomination = create(session, clock, org.nominator, cycle, org.nominee, justification=f"  {JUSTIFICATION}\n")

    assert nomination.status == "pending"
    assert nomination.justification == JUSTIFICATION
    assert (nomination.cycle_id, nomination.nominator_id, nomination.nominee_id) == (
        cycle.id, org.nominator.id, org.nominee.id,
    )
    assert nomination.withdrawn_at is None and nomination.created_at is not None
    (row,) = audit_rows(session)
    assert (row.action, row.entity_type, row.entity_id, row.actor_id) == (
        "nomination.create", "nomination", nomination.id, org.nominator.id,
    )
    assert row.payload == {
        "after": {
            "cycle_id": str(cycle.id),
            "nominator_id": str(org.nominator.id),
            "nominee_id": str(org.nominee.id),
            "justification": JUSTIFICATION,
            "status": "pending",
            "withdrawn_at": None,
        }
    }


# --------------------------------------------------------------------------- create: the eight rules in order


def test_rule1_unknown_cycle_is_not_found(session, clock, org):
    import uuid

    assert_refused(session, errors.NotFound, create, session, clock, org.nominator,
                   type("C", (), {"id": uuid.uuid4()})(), org.nominee)


def test_rule1_draft_cycle_is_not_found_for_non_admins_even_with_other_faults(session, clock, org):
    draft = make_cycle(session, status="draft", nominations="after", approvals="after",
                       nominator_roles=["admin"])
    assert_refused(session, errors.NotFound, create, session, clock, org.nominator, draft, org.nominator)


def test_rule2_role_not_in_nominator_roles_is_forbidden_before_cycle_state(session, clock, org):
    finalized = make_cycle(session, status="finalized", nominations="after", approvals="after",
                           nominator_roles=["team_lead", "manager", "admin"])
    assert_refused(session, errors.Forbidden, create, session, clock, org.nominator, finalized, org.nominee)


def test_rule2_nominator_roles_apply_to_admins_too(session, clock, org):
    leads_only = make_cycle(session, nominator_roles=["team_lead"])
    assert_refused(session, errors.Forbidden, create, session, clock, org.admin, leads_only, org.nominee)
    lead = make_user(session, role="team_lead")
    assert create(session, clock, lead, leads_only, org.nominee).status == "pending"


def test_rule3_cycle_must_be_published_before_window_is_checked(session, clock, org):
    draft = make_cycle(session, status="draft", nominations="after", approvals="after")
    assert_refused(session, errors.CycleState, create, session, clock, org.admin, draft, org.nominee)
    finalized = make_cycle(session, status="finalized", nominations="after", approvals="after")
    assert_refused(session, errors.CycleState, create, session, clock, org.nominator, finalized, org.nominee)
    archived = make_cycle(session, status="archived", nominations="after", approvals="after")
    assert_refused(session, errors.CycleState, create, session, clock, org.nominator, archived, org.nominee)


@pytest.mark.parametrize("window", ["before", "after"])
def test_rule4_nomination_window_must_be_open(session, clock, org, window):
    c = make_cycle(session, nominations=window, approvals="before" if window == "before" else "open")
    assert_refused(session, errors.WindowClosed, create, session, clock, org.nominator, c, org.nominee)


def test_rule4_window_is_half_open(session, clock, org, cycle):
    clock.set(cycle.nomination_opens_at)
    create(session, clock, org.nominator, cycle, org.nominee)
    clock.set(cycle.nomination_closes_at)
    assert_refused(session, errors.WindowClosed, create, session, clock, org.nominator, cycle, org.stranger)
    clock.set(cycle.nomination_closes_at - timedelta(microseconds=1))
    create(session, clock, org.nominator, cycle, org.stranger)


def test_rule4_closed_window_beats_self_nomination_and_invalid_nominee(session, clock, org):
    closed = make_cycle(session, nominations="after")
    assert_refused(session, errors.WindowClosed, create, session, clock, org.nominator, closed, org.nominator)
    inactive = make_user(session, is_active=False)
    assert_refused(session, errors.WindowClosed, create, session, clock, org.nominator, closed, inactive)


def test_rule5_nominee_must_exist_and_be_active(session, clock, org, cycle):
    import uuid

    assert_refused(session, errors.InvalidNominee, create, session, clock, org.nominator, cycle, uuid.uuid4())
    inactive = make_user(session, is_active=False)
    assert_refused(session, errors.InvalidNominee, create, session, clock, org.nominator, cycle, inactive)


def test_rule6_nominee_cannot_be_the_nominator_even_when_quota_is_used_up(session, clock, org):
    c = make_cycle(session, max_nominations_per_nominator=1)
    create(session, clock, org.nominator, c, org.nominee)
    assert_refused(session, errors.SelfNomination, create, session, clock, org.nominator, c, org.nominator)


def test_rule7_duplicate_nomination_is_refused_before_quota(session, clock, org):
    c = make_cycle(session, max_nominations_per_nominator=1)
    create(session, clock, org.nominator, c, org.nominee)
    assert_refused(session, errors.DuplicateNomination, create, session, clock, org.nominator, c, org.nominee)


def test_rule7_duplicate_is_refused_without_a_quota_too(session, clock, org, cycle):
    assert cycle.max_nominations_per_nominator is None
    create(session, clock, org.nominator, cycle, org.nominee)
    assert_refused(session, errors.DuplicateNomination, create, session, clock, org.nominator, cycle, org.nominee)


def test_rule7_duplicate_counts_approved_and_rejected_nominations(session, clock, org, cycle):
    make_nomination(session, cycle, org.nominator, org.nominee, status="rejected")
    assert_refused(session, errors.DuplicateNomination, create, session, clock, org.nominator, cycle, org.nominee)


def test_rule7_a_withdrawn_nomination_frees_its_pair(session, clock, org, cycle):
    make_nomination(session, cycle, org.nominator, org.nominee, status="withdrawn")
    assert create(session, clock, org.nominator, cycle, org.nominee).status == "pending"


def test_rule7_other_nominators_and_other_cycles_may_nominate_the_same_person(session, clock, org, cycle):
    create(session, clock, org.nominator, cycle, org.nominee)
    create(session, clock, org.stranger, cycle, org.nominee)
    other = make_cycle(session)
    create(session, clock, org.nominator, other, org.nominee)
    assert nomination_count(session) == 3


def test_rule8_quota_is_counted_per_nominator_and_cycle(session, clock, org):
    c = make_cycle(session, max_nominations_per_nominator=2)
    create(session, clock, org.nominator, c, org.nominee)
    create(session, clock, org.nominator, c, org.stranger)
    assert_refused(session, errors.QuotaExceeded, create, session, clock, org.nominator, c, org.manager)
    # Another nominator, and another cycle, are unaffected.
    create(session, clock, org.stranger, c, org.manager)
    create(session, clock, org.nominator, make_cycle(session, max_nominations_per_nominator=2), org.manager)


def test_rule8_only_a_cycle_with_a_quota_takes_the_nominators_advisory_lock(session, clock, org):
    """The lock that keeps racing creations inside the quota (tests/services/test_concurrency.py)."""
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
    create(session, clock, org.nominator, make_cycle(session), org.nominee)
    assert session.scalar(held) == 0
    create(session, clock, org.nominator, make_cycle(session, max_nominations_per_nominator=2), org.nominee)
    assert session.scalar(held) == 1


def test_create_runs_one_statement_prepared_on_the_server_and_prepares_nothing_else(session, clock, org, cycle):
    """The engine turns psycopg's automatic preparation off without refusing
    the driver's explicit one (re-planning the create statement on every run
    tripled its server CPU)."""
    prepared = text("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
    for _ in range(6):  # past psycopg's and PostgreSQL's default thresholds
        session.execute(prepared).all()
    create(session, clock, org.nominator, cycle, org.nominee)
    statements = session.scalars(prepared).all()
    assert any("INSERT INTO nominations" in s for s in statements)
    assert not any("pg_prepared_statements" in s for s in statements)


def test_rule8_a_withdrawn_nomination_frees_its_quota_slot(session, clock, org):
    c = make_cycle(session, max_nominations_per_nominator=1)
    make_nomination(session, c, org.nominator, org.nominee, status="withdrawn")
    assert create(session, clock, org.nominator, c, org.stranger).status == "pending"


@pytest.mark.parametrize("text", ["", "   short   ", "x" * 5001, "long enough but \x00 nul"])
def test_justification_must_be_10_to_5000_characters_after_trimming(session, clock, org, cycle, text):
    assert_refused(session, errors.ValidationFailed, create, session, clock, org.nominator, cycle, org.nominee,
                   justification=text)


def test_justification_bounds_are_inclusive(session, clock, org, cycle):
    assert create(session, clock, org.nominator, cycle, org.nominee, justification=" " + "x" * 10 + " ")
    assert create(session, clock, org.nominator, cycle, org.stranger, justification="y" * 5000)


# --------------------------------------------------------------------------- update


def test_nominator_edits_the_justification_and_it_is_audited(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    old = n.justification
    svc.update_nomination(session, org.nominator, n.id, justification="  A better reason, in detail. ", clock=clock)
    assert n.justification == "A better reason, in detail."
    (row,) = audit_rows(session)
    assert (row.action, row.entity_type, row.entity_id) == ("nomination.update", "nomination", n.id)
    assert row.payload == {"before": {"justification": old}, "after": {"justification": "A better reason, in detail."}}


def test_unchanged_justification_is_a_no_op_without_audit(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    svc.update_nomination(session, org.nominator, n.id, justification=n.justification + "  ", clock=clock)
    assert audit_rows(session) == []


def test_only_the_nominator_may_edit_others_who_see_it_are_forbidden(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    for actor in (org.admin, org.manager):
        assert_refused(session, errors.Forbidden, svc.update_nomination, session, actor, n.id,
                       justification=JUSTIFICATION, clock=clock)


def test_edit_by_someone_who_cannot_see_it_is_not_found(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    for actor in (org.stranger, org.other_manager, org.nominee):
        assert_refused(session, errors.NotFound, svc.update_nomination, session, actor, n.id,
                       justification=JUSTIFICATION, clock=clock)


def test_edit_needs_a_published_cycle_before_the_window(session, clock, org):
    c = make_cycle(session, status="finalized", nominations="after", approvals="after")
    n = make_nomination(session, c, org.nominator, org.nominee)
    assert_refused(session, errors.CycleState, svc.update_nomination, session, org.nominator, n.id,
                   justification=JUSTIFICATION, clock=clock)


def test_edit_needs_an_open_nomination_window(session, clock, org):
    c = make_cycle(session, nominations="after", approvals="open")
    n = make_nomination(session, c, org.nominator, org.nominee)
    assert_refused(session, errors.WindowClosed, svc.update_nomination, session, org.nominator, n.id,
                   justification=JUSTIFICATION, clock=clock)


def test_edit_is_refused_once_an_approval_is_recorded(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    crit = make_criterion(session, cycle)
    make_approval(session, n, org.manager, ratings={crit: 3})
    assert_refused(session, errors.NominationState, svc.update_nomination, session, org.nominator, n.id,
                   justification="A different reason entirely.", clock=clock)


@pytest.mark.parametrize("status", ["approved", "rejected", "withdrawn"])
def test_edit_needs_a_pending_nomination(session, clock, org, cycle, status):
    n = make_nomination(session, cycle, org.nominator, org.nominee, status=status)
    assert_refused(session, errors.NominationState, svc.update_nomination, session, org.nominator, n.id,
                   justification="A different reason entirely.", clock=clock)


# --------------------------------------------------------------------------- withdraw


def test_nominator_withdraws_and_it_is_audited_with_the_clock_time(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    svc.withdraw_nomination(session, org.nominator, n.id, clock=clock)
    assert n.status == "withdrawn" and n.withdrawn_at == clock.now()
    (row,) = audit_rows(session)
    assert (row.action, row.entity_type, row.entity_id, row.actor_id) == (
        "nomination.withdraw", "nomination", n.id, org.nominator.id,
    )
    assert row.payload == {
        "before": {"status": "pending", "withdrawn_at": None},
        "after": {"status": "withdrawn", "withdrawn_at": clock.now().isoformat()},
    }


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_admin_may_withdraw_a_decided_nomination_while_published(session, clock, org, cycle, status):
    n = make_nomination(session, cycle, org.nominator, org.nominee, status=status)
    svc.withdraw_nomination(session, org.admin, n.id, clock=clock)
    assert n.status == "withdrawn"
    assert [r.action for r in audit_rows(session)] == ["nomination.withdraw"]


def test_withdrawing_a_withdrawn_nomination_changes_nothing(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee, status="withdrawn")
    first = n.withdrawn_at
    clock.advance(timedelta(hours=1))
    assert svc.withdraw_nomination(session, org.nominator, n.id, clock=clock).withdrawn_at == first
    assert audit_rows(session) == []


def test_withdraw_by_an_approver_who_is_not_admin_is_forbidden(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    assert_refused(session, errors.Forbidden, svc.withdraw_nomination, session, org.manager, n.id, clock=clock)


def test_withdraw_by_someone_who_cannot_see_it_is_not_found(session, clock, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    assert_refused(session, errors.NotFound, svc.withdraw_nomination, session, org.stranger, n.id, clock=clock)


def test_withdraw_needs_a_published_cycle(session, clock, org):
    c = make_cycle(session, status="finalized", nominations="after", approvals="after")
    n = make_nomination(session, c, org.nominator, org.nominee)
    assert_refused(session, errors.CycleState, svc.withdraw_nomination, session, org.nominator, n.id, clock=clock)


def test_withdraw_is_allowed_after_the_windows_close_while_published(session, clock, org):
    c = make_cycle(session, nominations="after", approvals="after")
    n = make_nomination(session, c, org.nominator, org.nominee)
    assert svc.withdraw_nomination(session, org.nominator, n.id, clock=clock).status == "withdrawn"


# --------------------------------------------------------------------------- visibility


def test_nominator_admins_and_approvers_see_a_nomination(session, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    for actor in (org.nominator, org.admin, org.manager):
        assert svc.get_nomination(session, actor, n.id).id == n.id
        assert svc.can_see_nomination(session, actor, n)


def test_others_get_not_found(session, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    colleague = make_user(session, team=org.team)
    for actor in (org.stranger, org.other_manager, colleague):
        with pytest.raises(errors.NotFound):
            svc.get_nomination(session, actor, n.id)
        assert not svc.can_see_nomination(session, actor, n)


def test_team_manager_without_manager_role_is_not_an_approver(session, org, cycle):
    lead = make_user(session, role="team_lead")
    team = make_team(session, manager=lead)  # drifted data: a team_lead as manager_id
    nominee = make_user(session, team=team)
    n = make_nomination(session, cycle, org.nominator, nominee)
    assert not svc.is_approver(session, lead, n)
    with pytest.raises(errors.NotFound):
        svc.get_nomination(session, lead, n.id)


def test_approvers_are_active_admins_and_the_nominees_team_manager(session, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee)
    assert svc.is_approver(session, org.admin, n)
    assert svc.is_approver(session, org.manager, n)
    assert not svc.is_approver(session, org.other_manager, n)
    assert not svc.is_approver(session, org.nominator, n)
    org.admin.is_active = False
    assert not svc.is_approver(session, org.admin, n)


def test_nominee_does_not_see_nominations_about_them_while_published(session, org, cycle):
    n = make_nomination(session, cycle, org.nominator, org.nominee, status="approved")
    with pytest.raises(errors.NotFound):
        svc.get_nomination(session, org.nominee, n.id)


@pytest.mark.parametrize("cycle_status", ["finalized", "archived"])
def test_nominee_sees_only_approved_nominations_once_finalized(session, org, cycle_status):
    c = make_cycle(session, status=cycle_status, nominations="after", approvals="after")
    approved = make_nomination(session, c, org.nominator, org.nominee, status="approved")
    rejected = make_nomination(session, c, org.stranger, org.nominee, status="rejected")
    assert svc.get_nomination(session, org.nominee, approved.id).id == approved.id
    with pytest.raises(errors.NotFound):
        svc.get_nomination(session, org.nominee, rejected.id)
    page = svc.list_nominations(session, org.nominee, c.id)
    assert [x.id for x in page.items] == [approved.id]


# --------------------------------------------------------------------------- list


def test_list_returns_only_the_nominations_the_actor_may_see(session, org, cycle):
    other_team_nominee = make_user(session, team=session.get(Team, make_team(session, manager=org.other_manager).id))
    mine = make_nomination(session, cycle, org.nominator, org.nominee)
    theirs = make_nomination(session, cycle, org.stranger, other_team_nominee)
    unmanaged = make_nomination(session, cycle, org.stranger, make_user(session))

    def ids(actor, **kw):
        return {n.id for n in svc.list_nominations(session, actor, cycle.id, **kw).items}

    assert ids(org.nominator) == {mine.id}
    assert ids(org.manager) == {mine.id}
    assert ids(org.other_manager) == {theirs.id}
    assert ids(org.stranger) == {theirs.id, unmanaged.id}
    assert ids(org.admin) == {mine.id, theirs.id, unmanaged.id}
    assert ids(org.nominee) == set()
    assert ids(org.admin, nominator_id=org.stranger.id) == {theirs.id, unmanaged.id}
    assert ids(org.admin, nominee_id=org.nominee.id) == {mine.id}
    assert ids(org.admin, status="pending") == {mine.id, theirs.id, unmanaged.id}
    assert ids(org.admin, status="approved") == set()


def test_list_is_keyset_paged_by_created_at_then_id(session, org, cycle):
    made = [make_nomination(session, cycle, org.nominator, make_user(session)) for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = svc.list_nominations(session, org.admin, cycle.id, limit=2, cursor=cursor)
        seen.extend(n.id for n in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = [n.id for n in sorted(made, key=lambda n: (n.created_at, n.id))]
    assert seen == expected


def test_list_of_a_draft_or_unknown_cycle_is_not_found_for_non_admins(session, org):
    import uuid

    draft = make_cycle(session, status="draft")
    with pytest.raises(errors.NotFound):
        svc.list_nominations(session, org.nominator, draft.id)
    assert svc.list_nominations(session, org.admin, draft.id).items == []
    with pytest.raises(errors.NotFound):
        svc.list_nominations(session, org.admin, uuid.uuid4())
