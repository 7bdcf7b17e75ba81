"""Approvals: the seven ordered checks, the upsert, status recomputation and
its audit row (DOMAIN.md "Approvals")."""

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from plaudit import errors
from plaudit.models import Approval, ApprovalRating, Criterion, Cycle, Nomination
from plaudit.services import approvals as svc
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


def approval_count(session) -> int:
    return row_count(session, Approval)


@dataclass
class World(Org):
    """The `Org` around a nomination of `nominee` by `nominator` in `cycle`,
    whose two criteria are `speed` and `care`."""

    cycle: Cycle
    speed: Criterion
    care: Criterion
    nomination: Nomination


def build(session, **cycle_fields) -> World:
    org = make_org(session)
    cycle = make_cycle(session, **cycle_fields)
    speed = make_criterion(session, cycle, name="Speed", weight="0.5")
    care = make_criterion(session, cycle, name="Care", weight="0.5", position=1)
    nomination = make_nomination(session, cycle, org.nominator, org.nominee)
    return World(**vars(org), cycle=cycle, speed=speed, care=care, nomination=nomination)


@pytest.fixture
def w(session) -> World:
    return build(session)


def ratings(w: World, speed: int = 4, care: int = 5) -> list[dict]:
    return [{"criterion_id": w.speed.id, "value": speed}, {"criterion_id": w.care.id, "value": care}]


def submit(session, clock, actor, nomination, decision="approve", *, comment=None, ratings=None):
    return svc.submit_approval(
        session, actor, nomination.id, decision=decision, comment=comment, ratings=ratings, clock=clock
    )


def assert_refused(session, exc, *args, **kwargs):
    audits, rows = len(audit_rows(session)), approval_count(session)
    with pytest.raises(exc):
        submit(session, *args, **kwargs)
    assert len(audit_rows(session)) == audits
    assert approval_count(session) == rows


# --------------------------------------------------------------------------- success, upsert, status


def test_first_approval_is_created_approves_the_nomination_and_is_audited(session, clock, w):
    approval, created, status = submit(session, clock, w.manager, w.nomination, ratings=ratings(w))

    assert created is True and status == "approved" and w.nomination.status == "approved"
    assert (approval.approver_id, approval.decision, approval.comment) == (w.manager.id, "approve", None)
    assert {(r.criterion_id, r.value) for r in approval.ratings} == {(w.speed.id, 4), (w.care.id, 5)}
    (row,) = audit_rows(session)
    assert (row.action, row.entity_type, row.entity_id, row.actor_id) == (
        "approval.submit", "approval", approval.id, w.manager.id,
    )
    assert row.payload["after"]["decision"] == "approve"
    assert sorted(row.payload["after"]["ratings"], key=lambda r: r["value"]) == [
        {"criterion_id": str(w.speed.id), "value": 4},
        {"criterion_id": str(w.care.id), "value": 5},
    ]
    assert "before" not in row.payload
    assert row.payload["nomination_status"] == {"before": "pending", "after": "approved"}


def test_status_stays_pending_until_required_approvals_are_reached(session, clock):
    w = build(session, required_approvals=2)
    _, _, status = submit(session, clock, w.manager, w.nomination, ratings=ratings(w))
    assert status == "pending"
    assert audit_rows(session)[-1].payload["nomination_status"] == {"before": "pending", "after": "pending"}
    _, _, status = submit(session, clock, w.admin, w.nomination, ratings=ratings(w, 2, 3))
    assert status == "approved" and w.nomination.status == "approved"


def test_any_reject_rejects_the_nomination(session, clock, w):
    submit(session, clock, w.manager, w.nomination, ratings=ratings(w))
    _, created, status = submit(session, clock, w.admin, w.nomination, "reject", comment="Not enough evidence.")
    assert created and status == "rejected" and w.nomination.status == "rejected"
    assert audit_rows(session)[-1].payload["nomination_status"] == {"before": "approved", "after": "rejected"}


def test_resubmitting_replaces_decision_and_ratings_and_audits_only_the_changes(session, clock, w):
    first, _, _ = submit(session, clock, w.manager, w.nomination, "reject", comment="Too vague.")
    second, created, status = submit(session, clock, w.manager, w.nomination, ratings=ratings(w, 3, 3))

    assert created is False and second.id == first.id and status == "approved"
    assert session.scalar(select(func.count()).select_from(Approval)) == 1
    stored = dict(session.execute(select(ApprovalRating.criterion_id, ApprovalRating.value)).all())
    assert stored == {w.speed.id: 3, w.care.id: 3}
    row = audit_rows(session)[-1]
    assert row.entity_id == first.id
    assert row.payload["before"] == {"decision": "reject", "comment": "Too vague.", "ratings": []}
    assert row.payload["after"]["decision"] == "approve" and row.payload["after"]["comment"] is None
    assert row.payload["nomination_status"] == {"before": "rejected", "after": "approved"}


def test_changing_only_a_rating_replaces_the_ratings(session, clock, w):
    submit(session, clock, w.manager, w.nomination, ratings=ratings(w, 4, 5))
    approval, created, _ = submit(session, clock, w.manager, w.nomination, ratings=ratings(w, 4, 1))
    assert not created
    assert {(r.criterion_id, r.value) for r in approval.ratings} == {(w.speed.id, 4), (w.care.id, 1)}
    row = audit_rows(session)[-1]
    assert set(row.payload["before"]) == {"ratings"} and set(row.payload["after"]) == {"ratings"}


def test_resubmitting_the_identical_decision_changes_nothing_and_writes_no_audit(session, clock, w):
    submit(session, clock, w.manager, w.nomination, ratings=ratings(w))
    before = len(audit_rows(session))
    approval, created, status = submit(session, clock, w.manager, w.nomination, ratings=list(reversed(ratings(w))))
    assert created is False and status == "approved"
    assert len(audit_rows(session)) == before


def test_reject_comment_is_stored_trimmed(session, clock, w):
    approval, _, _ = submit(session, clock, w.manager, w.nomination, "reject", comment="  Needs more detail.  ")
    assert approval.comment == "Needs more detail."


# --------------------------------------------------------------------------- the seven rules in order


def test_rule1_unknown_or_invisible_nomination_is_not_found(session, clock, w):
    ghost = Nomination(id=uuid.uuid4())
    assert_refused(session, errors.NotFound, clock, w.manager, ghost, ratings=ratings(w))
    for actor in (w.other_manager, w.stranger, w.nominee):
        assert_refused(session, errors.NotFound, clock, actor, w.nomination, ratings=ratings(w))


def test_rule2_cycle_must_be_published_before_window_is_checked(session, clock):
    w = build(session, status="finalized", nominations="after", approvals="after")
    assert_refused(session, errors.CycleState, clock, w.manager, w.nomination, ratings=ratings(w))


@pytest.mark.parametrize("nominations,approvals", [("open", "before"), ("after", "after")])
def test_rule3_approval_window_must_be_open(session, clock, nominations, approvals):
    w = build(session, nominations=nominations, approvals=approvals)
    assert_refused(session, errors.WindowClosed, clock, w.manager, w.nomination, ratings=ratings(w))


def test_rule3_window_is_half_open(session, clock, w):
    clock.set(w.cycle.approval_closes_at)
    assert_refused(session, errors.WindowClosed, clock, w.manager, w.nomination, ratings=ratings(w))
    clock.set(w.cycle.approval_opens_at)
    assert submit(session, clock, w.manager, w.nomination, ratings=ratings(w))[1] is True


def test_rule3_closed_window_beats_a_withdrawn_nomination(session, clock):
    w = build(session, nominations="after", approvals="after")
    w.nomination.status, w.nomination.withdrawn_at = "withdrawn", clock.now()
    session.flush()
    assert_refused(session, errors.WindowClosed, clock, w.manager, w.nomination, ratings=ratings(w))


def test_rule4_withdrawn_nomination_is_refused_before_the_approver_check(session, clock, w):
    w.nomination.status, w.nomination.withdrawn_at = "withdrawn", clock.now()
    session.flush()
    # The nominator sees it but is no approver: the withdrawal decides first.
    assert_refused(session, errors.NominationState, clock, w.nominator, w.nomination, ratings=ratings(w))
    assert_refused(session, errors.NominationState, clock, w.manager, w.nomination, ratings=ratings(w))


def test_rule5_only_approvers_may_approve_before_conflict_of_interest(session, clock, w):
    # The nominator can see it and is also conflicted: not_approver comes first.
    assert_refused(session, errors.NotApprover, clock, w.nominator, w.nomination, ratings=ratings(w))


def test_rule6_admin_cannot_approve_their_own_nomination(session, clock, w):
    own = make_nomination(session, w.cycle, w.admin, w.stranger)
    assert_refused(session, errors.ConflictOfInterest, clock, w.admin, own, ratings=[{"bad": 1}])


def test_rule6_nobody_approves_a_nomination_about_themselves(session, clock, w):
    # Being the nominee wins over every role: one about oneself is invisible (not_found, API.md).
    about_admin = make_nomination(session, w.cycle, w.nominator, w.admin)
    assert_refused(session, errors.NotFound, clock, w.admin, about_admin, ratings=ratings(w))
    # A manager in their own team, nominated: approver by definition, still a nominee.
    team = make_team(session)
    boss = make_user(session, role="manager", team=team)
    team.manager_id = boss.id
    session.flush()
    about_boss = make_nomination(session, w.cycle, w.nominator, boss)
    assert_refused(session, errors.NotFound, clock, boss, about_boss, ratings=ratings(w))


def test_rule6_nobody_approves_their_own_nomination(session, clock, w):
    mine = make_nomination(session, w.cycle, w.admin, w.nominee)
    assert_refused(session, errors.ConflictOfInterest, clock, w.admin, mine, ratings=ratings(w))


def test_rule7_approve_needs_a_rating_for_every_criterion(session, clock, w):
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, ratings=ratings(w)[:1])
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, ratings=None)


def test_rule7_extra_duplicate_or_foreign_criteria_are_invalid(session, clock, w):
    other_cycle_criterion = make_criterion(session, make_cycle(session))
    extra = ratings(w) + [{"criterion_id": other_cycle_criterion.id, "value": 3}]
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, ratings=extra)
    twice = ratings(w) + [{"criterion_id": w.speed.id, "value": 3}]
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, ratings=twice)
    unknown = ratings(w) + [{"criterion_id": uuid.uuid4(), "value": 3}]
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, ratings=unknown)


@pytest.mark.parametrize("value", [0, 6, -1, 4.5, "4", True, None])
def test_rule7_ratings_are_integers_within_the_cycle_scale(session, clock, w, value):
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, ratings=ratings(w, speed=value))


def test_rule7_scale_bounds_are_inclusive_and_per_cycle(session, clock):
    w = build(session, rating_min=0, rating_max=10)
    assert submit(session, clock, w.manager, w.nomination, ratings=ratings(w, 0, 10))[2] == "approved"


def test_rule7_reject_carries_no_ratings(session, clock, w):
    assert_refused(session, errors.InvalidRatings, clock, w.manager, w.nomination, "reject",
                   comment="No.", ratings=ratings(w))
    assert submit(session, clock, w.manager, w.nomination, "reject", comment="No.", ratings=[])[2] == "rejected"


@pytest.mark.parametrize("comment", [None, "", "   \n"])
def test_reject_needs_a_non_blank_comment(session, clock, w, comment):
    assert_refused(session, errors.ValidationFailed, clock, w.manager, w.nomination, "reject", comment=comment)


def test_comment_is_at_most_2000_characters(session, clock, w):
    assert_refused(session, errors.ValidationFailed, clock, w.manager, w.nomination, "reject", comment="x" * 2001)
    assert submit(session, clock, w.manager, w.nomination, "reject", comment="x" * 2000)[1]


def test_unknown_decision_is_a_validation_error(session, clock, w):
    assert_refused(session, errors.ValidationFailed, clock, w.manager, w.nomination, "maybe")


# --------------------------------------------------------------------------- list


def test_admins_and_approvers_list_approvals_in_creation_order_with_ratings(session, w):
    a1 = make_approval(session, w.nomination, w.manager, ratings={w.speed: 3, w.care: 4})
    a2 = make_approval(session, w.nomination, w.admin, decision="reject")
    expected = [a.id for a in sorted([a1, a2], key=lambda a: (a.created_at, a.id))]
    for actor in (w.admin, w.manager):
        found = svc.list_approvals(session, actor, w.nomination.id)
        assert [a.id for a in found] == expected
    by_id = {a.id: a for a in found}
    assert {(r.criterion_id, r.value) for r in by_id[a1.id].ratings} == {(w.speed.id, 3), (w.care.id, 4)}
    assert by_id[a2.id].ratings == [] and by_id[a2.id].comment == "Not this time."


def test_the_nominator_who_is_not_an_approver_is_forbidden_from_approvals(session, w):
    with pytest.raises(errors.Forbidden):
        svc.list_approvals(session, w.nominator, w.nomination.id)


def test_the_nominee_never_reads_approvals(session):
    w = build(session, status="finalized", nominations="after", approvals="after")
    w.nomination.status = "approved"
    session.flush()
    with pytest.raises(errors.Forbidden):
        svc.list_approvals(session, w.nominee, w.nomination.id)


def test_others_get_not_found_for_approvals(session, w):
    for actor in (w.stranger, w.other_manager):
        with pytest.raises(errors.NotFound):
            svc.list_approvals(session, actor, w.nomination.id)
