"""Cycle rules (DOMAIN.md "Cycles", "Finalization, history and archive")."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import literal, select

from plaudit.errors import (
    CycleState,
    DuplicateName,
    Forbidden,
    InvalidWindows,
    NotFound,
    ValidationFailed,
    WeightsInvalid,
)
from plaudit.models import Criterion, Cycle
from plaudit.services import cycles as svc
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_user
from tests.helpers import audit_rows

D = timedelta(days=1)


def windows(**override):
    values = dict(
        nomination_opens_at=NOW + 1 * D,
        nomination_closes_at=NOW + 5 * D,
        approval_opens_at=NOW + 2 * D,
        approval_closes_at=NOW + 8 * D,
    )
    values.update(override)
    return values


def draft_with_weights(session, *weights, **fields):
    cycle = make_cycle(session, status="draft", nominations="before", approvals="before", **fields)
    for i, w in enumerate(weights):
        make_criterion(session, cycle, name=f"C{i}", weight=w, position=i)
    return cycle


# --- create ------------------------------------------------------------------


def test_admin_creates_a_draft_with_the_domain_defaults(session, admin):
    cycle = svc.create_cycle(session, admin, name="  Spring awards ", **windows())
    assert cycle.status == "draft"
    assert cycle.name == "Spring awards"
    assert (cycle.description, cycle.rating_min, cycle.rating_max) == ("", 1, 5)
    assert (cycle.required_approvals, cycle.max_nominations_per_nominator, cycle.award_slots) == (1, None, 3)
    assert cycle.nominator_roles == ["employee", "team_lead", "manager", "admin"]
    assert (cycle.winner_cooldown_cycles, cycle.score_normalization) == (0, "none")
    assert cycle.published_at is None and cycle.created_by == admin.id
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert (row.action, row.entity_type, row.actor_id) == ("cycle.create", "cycle", admin.id)
    assert row.payload["after"]["name"] == "Spring awards"
    assert row.payload["after"]["status"] == "draft"
    assert row.payload["after"]["nomination_opens_at"] == (NOW + D).isoformat()


def test_create_cycle_stores_window_bounds_in_utc(session, admin):
    plus2 = timezone(timedelta(hours=2))
    cycle = svc.create_cycle(
        session, admin, name="Offsets", **windows(nomination_opens_at=datetime(2030, 1, 11, 14, 0, tzinfo=plus2))
    )
    assert cycle.nomination_opens_at == datetime(2030, 1, 11, 12, 0, tzinfo=UTC)
    assert cycle.nomination_opens_at.utcoffset() == timedelta(0)


def test_create_cycle_accepts_every_field(session, admin):
    cycle = svc.create_cycle(
        session, admin, name="Full", description="d", rating_min=0, rating_max=10, required_approvals=2,
        max_nominations_per_nominator=4, award_slots=7, nominator_roles=["admin", "team_lead", "admin"],
        winner_cooldown_cycles=10, score_normalization="zscore", **windows(),
    )
    assert (cycle.winner_cooldown_cycles, cycle.score_normalization) == (10, "zscore")
    assert (cycle.rating_min, cycle.rating_max, cycle.required_approvals) == (0, 10, 2)
    assert (cycle.max_nominations_per_nominator, cycle.award_slots) == (4, 7)
    assert cycle.nominator_roles == ["team_lead", "admin"]  # canonical order, no duplicates


def test_only_admins_create_cycles(session, employee):
    with pytest.raises(Forbidden):
        svc.create_cycle(session, employee, name="Nope", **windows())
    assert audit_rows(session, action="cycle.create") == []


def test_command_line_may_create_cycles(session):
    cycle = svc.create_cycle(session, None, name="From the CLI", **windows())
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.actor_id is None


@pytest.mark.parametrize(
    ("override", "invariant"),
    [
        (dict(nomination_closes_at=NOW + 1 * D), "nomination_opens_at must be before nomination_closes_at"),
        (dict(approval_closes_at=NOW + 2 * D), "approval_opens_at must be before approval_closes_at"),
        (dict(approval_opens_at=NOW), "approval_opens_at must not be before nomination_opens_at"),
        (dict(approval_closes_at=NOW + 4 * D), "approval_closes_at must not be before nomination_closes_at"),
    ],
)
def test_window_invariants_are_invalid_windows_naming_the_invariant(session, admin, override, invariant):
    with pytest.raises(InvalidWindows, match=invariant):
        svc.create_cycle(session, admin, name="Bad windows", **windows(**override))
    assert audit_rows(session) == []


def test_approval_window_may_coincide_with_the_nomination_window(session, admin):
    same = dict(
        nomination_opens_at=NOW, nomination_closes_at=NOW + D, approval_opens_at=NOW, approval_closes_at=NOW + D
    )
    assert svc.create_cycle(session, admin, name="Same", **same).status == "draft"


def test_cycle_name_is_unique_case_insensitively(session, admin):
    svc.create_cycle(session, admin, name="Annual Awards", **windows())
    with pytest.raises(DuplicateName):
        svc.create_cycle(session, admin, name="annual AWARDS", **windows())
    assert len(audit_rows(session, action="cycle.create")) == 1


def test_duplicate_name_race_is_translated_from_the_unique_index(session, admin, monkeypatch):
    svc.create_cycle(session, admin, name="Racy", **windows())
    monkeypatch.setattr(svc, "_check_name_free", lambda *a, **k: None)  # as if the other insert came later
    with pytest.raises(DuplicateName):
        svc.create_cycle(session, admin, name="RACY", **windows())
    # The savepoint rolled back only the losing insert; the session is usable.
    assert session.scalar(select(Cycle.name).where(Cycle.name == "Racy")) == "Racy"
    assert len(audit_rows(session, action="cycle.create")) == 1


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        (dict(name="   "), "name"),
        (dict(name="x" * 201), "name"),
        (dict(name="bad\x00name"), "name"),
        (dict(description="x" * 5001), "description"),
        (dict(rating_min=-1), "rating_min"),
        (dict(rating_max=101), "rating_max"),
        (dict(rating_min=5, rating_max=5), "rating_max"),
        (dict(required_approvals=0), "required_approvals"),
        (dict(required_approvals=11), "required_approvals"),
        (dict(max_nominations_per_nominator=0), "max_nominations_per_nominator"),
        (dict(award_slots=0), "award_slots"),
        (dict(award_slots=1001), "award_slots"),
        (dict(nominator_roles=[]), "nominator_roles"),
        (dict(nominator_roles=["boss"]), "nominator_roles"),
        (dict(winner_cooldown_cycles=-1), "winner_cooldown_cycles"),
        (dict(winner_cooldown_cycles=11), "winner_cooldown_cycles"),
        (dict(winner_cooldown_cycles=True), "winner_cooldown_cycles"),
        (dict(score_normalization="minmax"), "score_normalization"),
        (dict(score_normalization=None), "score_normalization"),
    ],
)
def test_malformed_cycle_fields_are_validation_errors(session, admin, fields, loc):
    values = {"name": "Malformed", **windows(), **fields}
    with pytest.raises(ValidationFailed) as info:
        svc.create_cycle(session, admin, **values)
    assert info.value.errors[0]["loc"] == ["body", loc]
    assert audit_rows(session) == []


def test_naive_window_bound_is_a_validation_error(session, admin):
    with pytest.raises(ValidationFailed):
        svc.create_cycle(session, admin, name="Naive", **windows(nomination_opens_at=datetime(2030, 1, 11)))


# --- visibility --------------------------------------------------------------


def test_drafts_are_invisible_to_non_admins(session, employee, admin):
    draft = make_cycle(session, status="draft")
    with pytest.raises(NotFound):
        svc.get_cycle(session, employee, draft.id)
    assert svc.get_cycle(session, admin, draft.id).id == draft.id


def test_published_cycles_are_visible_to_everyone(session, employee):
    cycle = make_cycle(session, status="published")
    assert svc.get_cycle(session, employee, cycle.id).id == cycle.id


# --- update ------------------------------------------------------------------


def test_draft_allows_changing_every_field(session, admin):
    cycle = make_cycle(session, status="draft", nominations="before", approvals="before")
    changes = dict(
        name="Renamed", description="new", rating_min=2, rating_max=9, required_approvals=3,
        max_nominations_per_nominator=2, award_slots=10, nominator_roles=["manager"],
        winner_cooldown_cycles=2, score_normalization="zscore",
        **windows(nomination_opens_at=NOW + 2 * D, approval_opens_at=NOW + 3 * D),
    )
    differing = {field for field, value in changes.items() if getattr(cycle, field) != value}
    assert differing == set(changes) - {"nomination_closes_at"}  # it already closes at +5d
    svc.update_cycle(session, admin, cycle.id, changes)
    session.refresh(cycle)
    for field, value in changes.items():
        assert getattr(cycle, field) == value, field
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.action == "cycle.update"
    assert set(row.payload["before"]) == set(row.payload["after"]) == differing
    assert row.payload["after"]["name"] == "Renamed"


def test_update_audits_only_the_changed_fields(session, admin):
    cycle = make_cycle(session, status="draft", description="old")
    svc.update_cycle(session, admin, cycle.id, {"description": "new", "award_slots": cycle.award_slots})
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.payload == {"before": {"description": "old"}, "after": {"description": "new"}}


def test_update_that_changes_nothing_writes_no_audit_row(session, admin):
    cycle = make_cycle(session, status="draft", description="same")
    svc.update_cycle(session, admin, cycle.id, {"description": "same"})
    svc.update_cycle(session, admin, cycle.id, {})
    assert audit_rows(session) == []


def test_only_admins_update_cycles(session, employee):
    cycle = make_cycle(session, status="published")
    with pytest.raises(Forbidden):
        svc.update_cycle(session, employee, cycle.id, {"description": "x"})
    assert audit_rows(session) == []


def test_update_of_a_missing_cycle_is_not_found(session, admin):
    import uuid

    with pytest.raises(NotFound):
        svc.update_cycle(session, admin, uuid.uuid4(), {"description": "x"})


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "Now with more detail"},
        {"award_slots": 5},
        {"nominator_roles": ["team_lead", "manager", "admin"]},
        {"nomination_closes_at": NOW + 6 * D},
    ],
)
def test_published_cycle_allows_the_editable_fields(session, admin, changes):
    cycle = make_cycle(session, status="published")
    svc.update_cycle(session, admin, cycle.id, changes)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.action == "cycle.update"
    assert set(row.payload["after"]) == set(changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Other"},
        {"rating_max": 10},
        {"rating_min": 0},
        {"required_approvals": 2},
        {"max_nominations_per_nominator": 3},
        {"description": "ok", "required_approvals": 2},
        {"winner_cooldown_cycles": 1},
        {"score_normalization": "zscore"},
    ],
)
def test_published_cycle_refuses_other_fields_as_cycle_state(session, admin, changes):
    cycle = make_cycle(session, status="published", description="before")
    with pytest.raises(CycleState):
        svc.update_cycle(session, admin, cycle.id, changes)
    session.refresh(cycle)
    assert cycle.description == "before"
    assert audit_rows(session) == []


def test_published_cycle_refuses_a_locked_field_even_with_its_current_value(session, admin):
    cycle = make_cycle(session, status="published")
    with pytest.raises(CycleState):
        svc.update_cycle(session, admin, cycle.id, {"rating_max": cycle.rating_max})


@pytest.mark.parametrize("status", ["finalized", "archived"])
def test_finalized_and_archived_cycles_are_read_only(session, admin, status):
    cycle = make_cycle(session, status=status, nominations="after", approvals="after")
    for changes in ({"description": "late"}, {"award_slots": 9}, {}):
        with pytest.raises(CycleState):
            svc.update_cycle(session, admin, cycle.id, changes)
    assert audit_rows(session) == []


def test_admin_may_close_nominations_of_a_published_cycle_early(session, admin, clock):
    cycle = make_cycle(session, status="published")  # nominations open now
    assert svc.nominations_open(cycle, NOW)
    svc.update_cycle(session, admin, cycle.id, {"nomination_closes_at": NOW})
    assert not svc.nominations_open(cycle, NOW)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.payload["after"] == {"nomination_closes_at": NOW.isoformat()}


def test_admin_may_extend_the_approval_deadline_of_a_published_cycle(session, admin):
    cycle = make_cycle(session, status="published", nominations="after", approvals="after")
    assert not svc.approvals_open(cycle, NOW)
    svc.update_cycle(session, admin, cycle.id, {"approval_closes_at": NOW + 3 * D})
    assert svc.approvals_open(cycle, NOW)
    assert len(audit_rows(session, entity_id=cycle.id)) == 1


def test_moving_all_windows_of_a_published_cycle_later_is_allowed(session, admin):
    cycle = make_cycle(session, status="published")
    moved = windows(
        nomination_opens_at=NOW + 10 * D, nomination_closes_at=NOW + 12 * D,
        approval_opens_at=NOW + 11 * D, approval_closes_at=NOW + 14 * D,
    )
    svc.update_cycle(session, admin, cycle.id, moved)
    assert cycle.nomination_opens_at == NOW + 10 * D and not svc.nominations_open(cycle, NOW)


def test_moving_a_published_window_is_checked_on_the_merged_values(session, admin):
    cycle = make_cycle(session, status="published")  # nominations close at +5d, approvals at +6d
    with pytest.raises(InvalidWindows, match="approval_closes_at must not be before nomination_closes_at"):
        svc.update_cycle(session, admin, cycle.id, {"nomination_closes_at": NOW + 7 * D})
    with pytest.raises(InvalidWindows, match="nomination_opens_at must be before nomination_closes_at"):
        svc.update_cycle(session, admin, cycle.id, {"nomination_opens_at": NOW + 5 * D})
    assert audit_rows(session) == []


def test_rating_scale_is_checked_on_the_merged_values(session, admin):
    cycle = make_cycle(session, status="draft")  # 1..5
    with pytest.raises(ValidationFailed):
        svc.update_cycle(session, admin, cycle.id, {"rating_min": 5})
    svc.update_cycle(session, admin, cycle.id, {"rating_min": 5, "rating_max": 10})
    assert (cycle.rating_min, cycle.rating_max) == (5, 10)


def test_renaming_to_a_taken_name_is_duplicate_name(session, admin):
    make_cycle(session, status="draft", name="Taken")
    cycle = make_cycle(session, status="draft")
    with pytest.raises(DuplicateName):
        svc.update_cycle(session, admin, cycle.id, {"name": "TAKEN"})
    assert audit_rows(session) == []


def test_renaming_a_cycle_to_a_different_case_of_its_own_name_is_allowed(session, admin):
    cycle = make_cycle(session, status="draft", name="lower case")
    svc.update_cycle(session, admin, cycle.id, {"name": "Lower Case"})
    assert cycle.name == "Lower Case"


def test_null_is_refused_for_required_fields_but_clears_the_quota(session, admin):
    cycle = make_cycle(session, status="draft", max_nominations_per_nominator=3)
    with pytest.raises(ValidationFailed):
        svc.update_cycle(session, admin, cycle.id, {"award_slots": None})
    svc.update_cycle(session, admin, cycle.id, {"max_nominations_per_nominator": None})
    assert cycle.max_nominations_per_nominator is None


def test_server_owned_fields_cannot_be_updated(session, admin):
    cycle = make_cycle(session, status="draft")
    with pytest.raises(ValidationFailed):
        svc.update_cycle(session, admin, cycle.id, {"status": "published"})


# --- delete ------------------------------------------------------------------


def test_deleting_a_draft_removes_it_and_its_criteria(session, admin):
    cycle = draft_with_weights(session, "0.5", "0.5")
    cycle_id = cycle.id
    svc.delete_cycle(session, admin, cycle_id)
    session.expunge_all()
    assert session.get(Cycle, cycle_id) is None
    assert session.scalars(select(Criterion).where(Criterion.cycle_id == cycle_id)).all() == []
    (row,) = audit_rows(session, entity_id=cycle_id)
    assert row.action == "cycle.delete" and row.entity_type == "cycle"
    assert row.payload["before"]["name"] == cycle.name
    assert [c["weight"] for c in row.payload["before"]["criteria"]] == ["0.5000", "0.5000"]
    assert "after" not in row.payload


@pytest.mark.parametrize("status", ["published", "finalized", "archived"])
def test_only_drafts_can_be_deleted(session, admin, status):
    cycle = make_cycle(session, status=status, nominations="after", approvals="after")
    with pytest.raises(CycleState):
        svc.delete_cycle(session, admin, cycle.id)
    assert session.get(Cycle, cycle.id) is not None
    assert audit_rows(session) == []


def test_only_admins_delete_cycles(session, employee):
    cycle = make_cycle(session, status="published")
    with pytest.raises(Forbidden):
        svc.delete_cycle(session, employee, cycle.id)


def test_non_admin_deleting_a_draft_is_forbidden_before_lookup(session, employee):
    cycle = make_cycle(session, status="draft")
    with pytest.raises(Forbidden):
        svc.delete_cycle(session, employee, cycle.id)


# --- publish -----------------------------------------------------------------


def test_publish_sets_status_and_published_at_from_the_clock(session, admin):
    cycle = draft_with_weights(session, "0.25", "0.75")
    svc.publish_cycle(session, admin, cycle.id, now=NOW)
    assert cycle.status == "published" and cycle.published_at == NOW
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.action == "cycle.publish"
    assert row.payload == {
        "before": {"status": "draft", "published_at": None},
        "after": {"status": "published", "published_at": NOW.isoformat()},
    }


def test_publish_with_thirds_summing_exactly_to_one(session, admin):
    cycle = draft_with_weights(session, "0.3333", "0.3333", "0.3334")
    assert svc.publish_cycle(session, admin, cycle.id, now=NOW).status == "published"


def test_publish_with_ten_tenths(session, admin):
    cycle = draft_with_weights(session, *["0.1"] * 10)
    assert svc.publish_cycle(session, admin, cycle.id, now=NOW).status == "published"


def test_publish_refuses_weights_not_summing_to_one_naming_the_sum(session, admin):
    cycle = draft_with_weights(session, "0.3333", "0.3333", "0.3333")
    with pytest.raises(WeightsInvalid, match=r"criteria weights sum to 0\.9999, not 1"):
        svc.publish_cycle(session, admin, cycle.id, now=NOW)
    assert cycle.status == "draft"
    assert audit_rows(session) == []


def test_publish_refuses_weights_above_one(session, admin):
    cycle = draft_with_weights(session, "0.6", "0.6")
    with pytest.raises(WeightsInvalid, match=r"1\.2000"):
        svc.publish_cycle(session, admin, cycle.id, now=NOW)


def test_publish_requires_at_least_one_criterion(session, admin):
    cycle = draft_with_weights(session)
    with pytest.raises(WeightsInvalid, match="at least one criterion"):
        svc.publish_cycle(session, admin, cycle.id, now=NOW)
    assert audit_rows(session) == []


@pytest.mark.parametrize("status", ["published", "finalized", "archived"])
def test_only_drafts_can_be_published(session, admin, status):
    cycle = make_cycle(session, status=status, nominations="after", approvals="after")
    make_criterion(session, cycle, weight="1")
    with pytest.raises(CycleState):
        svc.publish_cycle(session, admin, cycle.id, now=NOW)
    assert audit_rows(session) == []


def test_only_admins_publish(session, employee):
    cycle = draft_with_weights(session, "1")
    with pytest.raises(Forbidden):
        svc.publish_cycle(session, employee, cycle.id, now=NOW)


# --- window booleans (half-open) ---------------------------------------------


def test_nomination_window_is_half_open(session):
    cycle = make_cycle(session, status="published", nominations="before", approvals="before")
    opens, closes = cycle.nomination_opens_at, cycle.nomination_closes_at
    assert not svc.nominations_open(cycle, opens - timedelta(microseconds=1))
    assert svc.nominations_open(cycle, opens)
    assert svc.nominations_open(cycle, closes - timedelta(microseconds=1))
    assert not svc.nominations_open(cycle, closes)


def test_window_open_clause_is_window_open_in_sql(session):
    """The create path checks its window in SQL: the two must never disagree."""
    opens, closes = NOW, NOW + timedelta(days=1)
    tick = timedelta(microseconds=1)
    for now in (opens - tick, opens, opens + tick, closes - tick, closes, closes + tick):
        in_sql = session.scalar(select(svc.window_open_clause(literal(opens), literal(closes), literal(now))))
        assert in_sql is svc.window_open(opens, closes, now), now


def test_approval_window_is_half_open(session):
    cycle = make_cycle(session, status="published", nominations="before", approvals="before")
    opens, closes = cycle.approval_opens_at, cycle.approval_closes_at
    assert not svc.approvals_open(cycle, opens - timedelta(microseconds=1))
    assert svc.approvals_open(cycle, opens)
    assert not svc.approvals_open(cycle, closes)


def test_windows_are_never_open_unless_published(session):
    for status in ("draft", "finalized", "archived"):
        cycle = make_cycle(session, status=status)
        assert not svc.nominations_open(cycle, NOW) and not svc.approvals_open(cycle, NOW)


# --- archive -----------------------------------------------------------------


def test_archive_moves_a_finalized_cycle_to_archived(session, admin):
    cycle = make_cycle(session, status="finalized", nominations="after", approvals="after")
    later = NOW + 3 * D
    svc.archive_cycle(session, admin, cycle.id, now=later)
    assert cycle.status == "archived" and cycle.archived_at == later
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.action == "cycle.archive"
    assert row.payload == {
        "before": {"status": "finalized", "archived_at": None},
        "after": {"status": "archived", "archived_at": later.isoformat()},
    }


def test_archiving_an_archived_cycle_changes_nothing_and_is_not_an_error(session, admin):
    cycle = make_cycle(session, status="finalized", nominations="after", approvals="after")
    svc.archive_cycle(session, admin, cycle.id, now=NOW)
    again = svc.archive_cycle(session, admin, cycle.id, now=NOW + D)
    assert again.status == "archived" and again.archived_at == NOW
    assert len(audit_rows(session, action="cycle.archive")) == 1


@pytest.mark.parametrize("status", ["draft", "published"])
def test_only_finalized_cycles_can_be_archived(session, admin, status):
    cycle = make_cycle(session, status=status)
    with pytest.raises(CycleState):
        svc.archive_cycle(session, admin, cycle.id, now=NOW)
    assert audit_rows(session) == []


def test_only_admins_archive(session, employee):
    cycle = make_cycle(session, status="finalized", nominations="after", approvals="after")
    with pytest.raises(Forbidden):
        svc.archive_cycle(session, employee, cycle.id, now=NOW)


# --- list --------------------------------------------------------------------


def _ids(page):
    return [c.id for c in page.items]


def test_list_pages_newest_first_without_gaps_or_repeats(session, admin):
    made = [make_cycle(session, status="published") for _ in range(7)]
    # created_at is the transaction time here, so equal; the id breaks the tie.
    expected = sorted(made, key=lambda c: (c.created_at, c.id), reverse=True)
    seen, cursor = [], None
    while True:
        page = svc.list_cycles(session, admin, limit=3, cursor=cursor)
        seen += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [c.id for c in expected]


def test_list_is_ordered_by_creation_time_descending(session, admin):
    old = make_cycle(session, status="published", created_at=NOW - 2 * D)
    new = make_cycle(session, status="published", created_at=NOW - D)
    assert _ids(svc.list_cycles(session, admin))[:2] == [new.id, old.id]


def test_list_leaves_archived_cycles_out_unless_asked(session, admin):
    live = make_cycle(session, status="published")
    archived = make_cycle(session, status="archived", nominations="after", approvals="after")
    assert _ids(svc.list_cycles(session, admin)) == [live.id]
    assert _ids(svc.list_cycles(session, admin, status="archived")) == [archived.id]
    assert set(_ids(svc.list_cycles(session, admin, include_archived=True))) == {live.id, archived.id}


def test_list_filters_by_status(session, admin):
    draft = make_cycle(session, status="draft")
    published = make_cycle(session, status="published")
    assert _ids(svc.list_cycles(session, admin, status="draft")) == [draft.id]
    assert _ids(svc.list_cycles(session, admin, status="published")) == [published.id]


def test_list_shows_drafts_to_admins_only(session, admin, employee):
    draft = make_cycle(session, status="draft")
    published = make_cycle(session, status="published")
    assert set(_ids(svc.list_cycles(session, admin))) == {draft.id, published.id}
    assert _ids(svc.list_cycles(session, employee)) == [published.id]
    assert _ids(svc.list_cycles(session, employee, status="draft")) == []


def test_list_refuses_an_unknown_status(session, admin):
    with pytest.raises(ValidationFailed):
        svc.list_cycles(session, admin, status="closed")


def test_weights_sum_is_exact_decimal(session):
    cycle = draft_with_weights(session, *["0.1"] * 10)
    assert svc.weights_sum(session, cycle.id) == (10, Decimal("1.0000"))


# --- concurrency (real transactions) -----------------------------------------


def _in_thread(fn):
    """Run fn in a thread; returns (thread, result dict with 'value' or 'error')."""
    import threading

    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed back to the test to assert on
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_concurrent_creates_of_one_name_give_one_cycle_and_duplicate_name(committed_db, monkeypatch):
    import time

    from sqlalchemy.orm import Session

    monkeypatch.setattr(svc, "_check_name_free", lambda *a, **k: None)  # only the unique index decides
    with Session(committed_db, expire_on_commit=False) as setup:
        admin = make_user(setup, role="admin")
        setup.commit()
    with Session(committed_db) as first, Session(committed_db) as second:
        svc.create_cycle(first, admin, name="Race", **windows())  # inserted, not yet committed

        def create_second():
            cycle = svc.create_cycle(second, admin, name="RACE", **windows())
            second.commit()
            return cycle

        thread, out = _in_thread(create_second)
        time.sleep(0.3)  # the second insert now waits on the first one's index entry
        assert thread.is_alive()
        first.commit()
        thread.join(10)
        assert isinstance(out.get("error"), DuplicateName)
        second.rollback()
    with Session(committed_db) as check:
        assert check.scalars(select(Cycle.name)).all() == ["Race"]
        assert [r.action for r in audit_rows(check)] == ["cycle.create"]


def test_publish_waits_for_a_concurrent_criteria_change(committed_db):
    import time

    from sqlalchemy.orm import Session

    from plaudit.services.criteria import add_criterion

    with Session(committed_db, expire_on_commit=False) as setup:
        admin = make_user(setup, role="admin")
        cycle = draft_with_weights(setup, "1")
        setup.commit()
    with Session(committed_db) as editor, Session(committed_db) as publisher:
        add_criterion(editor, admin, cycle.id, name="Extra", weight="0.2")  # holds the cycle lock

        def publish():
            result = svc.publish_cycle(publisher, admin, cycle.id, now=NOW)
            publisher.commit()
            return result

        thread, out = _in_thread(publish)
        time.sleep(0.3)
        assert thread.is_alive()  # publish waits for the cycle lock
        editor.commit()
        thread.join(10)
        assert isinstance(out.get("error"), WeightsInvalid)
        assert "1.2000" in out["error"].message
        publisher.rollback()
    with Session(committed_db) as check:
        assert check.get(Cycle, cycle.id).status == "draft"
        assert [r.action for r in audit_rows(check)] == ["criterion.create"]
