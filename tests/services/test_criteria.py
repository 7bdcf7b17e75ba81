"""Criteria rules (DOMAIN.md "Criteria")."""

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from plaudit.errors import CycleState, DuplicateName, Forbidden, NotFound, ValidationFailed, WeightsInvalid
from plaudit.models import Criterion
from plaudit.services import criteria as svc
from plaudit.services.cycles import publish_cycle
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle
from tests.helpers import audit_rows


@pytest.fixture
def draft(session):
    return make_cycle(session, status="draft", nominations="before", approvals="before")


def names(criteria):
    return [c.name for c in criteria]


# --- add ---------------------------------------------------------------------


def test_admin_adds_a_criterion_to_a_draft(session, admin, draft):
    criterion = svc.add_criterion(session, admin, draft.id, name=" Impact ", weight="0.25", description="What changed")
    assert (criterion.name, criterion.weight, criterion.position) == ("Impact", Decimal("0.2500"), 0)
    (row,) = audit_rows(session, entity_id=criterion.id)
    assert (row.action, row.entity_type, row.actor_id) == ("criterion.create", "criterion", admin.id)
    assert row.payload == {
        "after": {"cycle_id": str(draft.id), "name": "Impact", "description": "What changed",
                  "weight": "0.2500", "position": 0}
    }


def test_weight_is_accepted_as_number_or_string(session, admin, draft):
    assert svc.add_criterion(session, admin, draft.id, name="a", weight=0.1).weight == Decimal("0.1000")
    assert svc.add_criterion(session, admin, draft.id, name="b", weight="0.1").weight == Decimal("0.1000")
    assert svc.add_criterion(session, admin, draft.id, name="c", weight=Decimal("1.00000")).weight == Decimal("1")
    assert svc.add_criterion(session, admin, draft.id, name="d", weight=1).weight == Decimal("1")


@pytest.mark.parametrize("weight", ["0", "-0.1", "1.0001", "0.00001", "0.12345", "NaN", "Infinity", "abc", True, None])
def test_weight_outside_0_to_1_or_with_more_than_4_places_is_a_validation_error(session, admin, draft, weight):
    with pytest.raises(ValidationFailed) as info:
        svc.add_criterion(session, admin, draft.id, name="W", weight=weight)
    assert info.value.errors[0]["loc"] == ["body", "weight"]
    assert audit_rows(session) == []


def test_smallest_and_largest_weights_are_accepted(session, admin, draft):
    assert svc.add_criterion(session, admin, draft.id, name="tiny", weight="0.0001").weight == Decimal("0.0001")
    assert svc.add_criterion(session, admin, draft.id, name="whole", weight="1").weight == Decimal("1")


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        (dict(name=""), "name"),
        (dict(name="  "), "name"),
        (dict(name="x" * 101), "name"),
        (dict(description="x" * 2001), "description"),
        (dict(position=2**31), "position"),
    ],
)
def test_malformed_criterion_fields_are_validation_errors(session, admin, draft, fields, loc):
    with pytest.raises(ValidationFailed) as info:
        svc.add_criterion(session, admin, draft.id, **{"name": "N", "weight": "0.5", **fields})
    assert info.value.errors[0]["loc"] == ["body", loc]


def test_added_criterion_without_position_goes_last(session, admin, draft):
    make_criterion(session, draft, name="first", position=7)
    assert svc.add_criterion(session, admin, draft.id, name="next", weight="0.5").position == 8


def test_criterion_name_is_unique_in_the_cycle_case_insensitively(session, admin, draft):
    make_criterion(session, draft, name="Teamwork")
    with pytest.raises(DuplicateName):
        svc.add_criterion(session, admin, draft.id, name="TEAMWORK", weight="0.5")
    assert audit_rows(session) == []


def test_same_criterion_name_is_fine_in_another_cycle(session, admin, draft):
    other = make_cycle(session, status="draft")
    make_criterion(session, other, name="Teamwork")
    assert svc.add_criterion(session, admin, draft.id, name="Teamwork", weight="0.5").name == "Teamwork"


def test_criterion_name_race_is_translated_from_the_unique_index(session, admin, draft, monkeypatch):
    make_criterion(session, draft, name="Racy")
    monkeypatch.setattr(svc, "_check_name_free", lambda *a, **k: None)
    with pytest.raises(DuplicateName):
        svc.add_criterion(session, admin, draft.id, name="racy", weight="0.5")
    assert names(svc.ordered_criteria(session, draft.id)) == ["Racy"]  # the session is still usable
    assert audit_rows(session) == []


def test_a_single_add_may_push_a_drafts_weights_above_one(session, admin, draft):
    make_criterion(session, draft, name="a", weight="0.8")
    svc.add_criterion(session, admin, draft.id, name="b", weight="0.8")
    assert sum(c.weight for c in svc.ordered_criteria(session, draft.id)) == Decimal("1.6")


@pytest.mark.parametrize("status", ["published", "finalized", "archived"])
def test_criteria_change_only_while_the_cycle_is_a_draft(session, admin, status):
    cycle = make_cycle(session, status=status, nominations="after", approvals="after")
    criterion = make_criterion(session, cycle, name="Fixed")
    with pytest.raises(CycleState):
        svc.add_criterion(session, admin, cycle.id, name="New", weight="0.5")
    with pytest.raises(CycleState):
        svc.update_criterion(session, admin, criterion.id, {"name": "Changed"})
    with pytest.raises(CycleState):
        svc.delete_criterion(session, admin, criterion.id)
    with pytest.raises(CycleState):
        svc.replace_criteria(session, admin, cycle.id, [{"name": "All", "weight": "1"}])
    assert names(svc.ordered_criteria(session, cycle.id)) == ["Fixed"]
    assert audit_rows(session) == []


def test_only_admins_change_criteria(session, employee):
    cycle = make_cycle(session, status="published")
    criterion = make_criterion(session, cycle)
    with pytest.raises(Forbidden):
        svc.add_criterion(session, employee, cycle.id, name="x", weight="1")
    with pytest.raises(Forbidden):
        svc.update_criterion(session, employee, criterion.id, {"name": "y"})
    with pytest.raises(Forbidden):
        svc.delete_criterion(session, employee, criterion.id)
    with pytest.raises(Forbidden):
        svc.replace_criteria(session, employee, cycle.id, [{"name": "z", "weight": "1"}])
    assert audit_rows(session) == []


def test_adding_to_a_missing_cycle_is_not_found(session, admin):
    with pytest.raises(NotFound):
        svc.add_criterion(session, admin, uuid.uuid4(), name="x", weight="1")


# --- list --------------------------------------------------------------------


def test_criteria_are_listed_by_position_then_name(session, admin, draft):
    make_criterion(session, draft, name="zeta", position=1)
    make_criterion(session, draft, name="Beta", position=2)
    make_criterion(session, draft, name="alpha", position=2)
    make_criterion(session, draft, name="omega", position=0)
    assert names(svc.list_criteria(session, admin, draft.id)) == ["omega", "zeta", "alpha", "Beta"]


def test_criteria_of_a_draft_are_invisible_to_non_admins(session, employee, draft):
    make_criterion(session, draft)
    with pytest.raises(NotFound):
        svc.list_criteria(session, employee, draft.id)


def test_criteria_of_a_published_cycle_are_visible_to_everyone(session, employee):
    cycle = make_cycle(session, status="published")
    make_criterion(session, cycle, name="Shown")
    assert names(svc.list_criteria(session, employee, cycle.id)) == ["Shown"]


# --- update / delete ---------------------------------------------------------


def test_update_changes_the_given_fields_and_audits_them(session, admin, draft):
    criterion = make_criterion(session, draft, name="Old", weight="0.5", position=1)
    svc.update_criterion(session, admin, criterion.id, {"name": "New", "weight": "0.75", "position": 1})
    assert (criterion.name, criterion.weight, criterion.position) == ("New", Decimal("0.7500"), 1)
    (row,) = audit_rows(session, entity_id=criterion.id)
    assert row.action == "criterion.update" and row.entity_type == "criterion"
    assert row.payload == {"before": {"name": "Old", "weight": "0.5000"}, "after": {"name": "New", "weight": "0.7500"}}


def test_update_that_changes_nothing_writes_no_audit_row(session, admin, draft):
    criterion = make_criterion(session, draft, name="Same", weight="0.5")
    svc.update_criterion(session, admin, criterion.id, {"name": "Same", "weight": "0.50"})
    assert audit_rows(session) == []


def test_a_single_update_may_push_a_drafts_weights_above_one(session, admin, draft):
    make_criterion(session, draft, name="a", weight="0.5")
    b = make_criterion(session, draft, name="b", weight="0.5")
    svc.update_criterion(session, admin, b.id, {"weight": "1"})
    assert b.weight == Decimal("1")


def test_renaming_a_criterion_to_a_taken_name_is_duplicate_name(session, admin, draft):
    make_criterion(session, draft, name="Taken")
    criterion = make_criterion(session, draft, name="Free")
    with pytest.raises(DuplicateName):
        svc.update_criterion(session, admin, criterion.id, {"name": "taken"})
    assert audit_rows(session) == []


def test_renaming_a_criterion_to_another_case_of_its_name_is_allowed(session, admin, draft):
    criterion = make_criterion(session, draft, name="impact")
    svc.update_criterion(session, admin, criterion.id, {"name": "Impact"})
    assert criterion.name == "Impact"


def test_update_refuses_invalid_weight_and_null(session, admin, draft):
    criterion = make_criterion(session, draft, weight="0.5")
    with pytest.raises(ValidationFailed):
        svc.update_criterion(session, admin, criterion.id, {"weight": "1.5"})
    with pytest.raises(ValidationFailed):
        svc.update_criterion(session, admin, criterion.id, {"name": None})
    with pytest.raises(ValidationFailed):
        svc.update_criterion(session, admin, criterion.id, {"cycle_id": str(uuid.uuid4())})
    assert audit_rows(session) == []


def test_update_or_delete_of_a_missing_criterion_is_not_found(session, admin):
    with pytest.raises(NotFound):
        svc.update_criterion(session, admin, uuid.uuid4(), {"name": "x"})
    with pytest.raises(NotFound):
        svc.delete_criterion(session, admin, uuid.uuid4())


def test_role_check_comes_before_the_lookup_for_criteria(session, employee, draft):
    criterion = make_criterion(session, draft)
    with pytest.raises(Forbidden):
        svc.update_criterion(session, employee, criterion.id, {"name": "x"})


def test_delete_removes_the_criterion_and_audits_it(session, admin, draft):
    criterion = make_criterion(session, draft, name="Gone", weight="0.3")
    criterion_id = criterion.id
    svc.delete_criterion(session, admin, criterion_id)
    assert session.scalar(select(Criterion).where(Criterion.id == criterion_id)) is None
    (row,) = audit_rows(session, entity_id=criterion_id)
    assert row.action == "criterion.delete"
    assert row.payload["before"]["name"] == "Gone" and row.payload["before"]["weight"] == "0.3000"
    assert "after" not in row.payload


# --- replace -----------------------------------------------------------------


def test_replace_swaps_the_whole_set_atomically_and_audits_once(session, admin, draft):
    old = make_criterion(session, draft, name="Old", weight="1")
    result = svc.replace_criteria(
        session, admin, draft.id,
        [{"name": "Impact", "weight": "0.6"}, {"name": "Craft", "weight": 0.4, "description": "how"}],
    )
    assert names(result) == ["Impact", "Craft"]  # omitted positions follow the list order
    assert [c.position for c in result] == [0, 1]
    assert session.scalar(select(Criterion).where(Criterion.id == old.id)) is None
    (row,) = audit_rows(session)
    assert (row.action, row.entity_type, row.entity_id) == ("criteria.replace", "cycle", draft.id)
    assert row.payload["before"] == [
        {"id": str(old.id), "name": "Old", "description": "", "weight": "1.0000", "position": 0}
    ]
    assert [(c["name"], c["weight"], c["position"]) for c in row.payload["after"]] == [
        ("Impact", "0.6000", 0), ("Craft", "0.4000", 1)
    ]
    assert row.payload["after"][0]["id"] == str(result[0].id)


def test_replace_with_thirds_summing_exactly_to_one(session, admin, draft):
    items = [{"name": n, "weight": w} for n, w in (("a", "0.3333"), ("b", "0.3333"), ("c", "0.3334"))]
    assert len(svc.replace_criteria(session, admin, draft.id, items)) == 3


def test_replace_with_ten_tenths_as_strings(session, admin, draft):
    items = [{"name": f"c{i}", "weight": "0.1"} for i in range(10)]
    assert len(svc.replace_criteria(session, admin, draft.id, items)) == 10
    assert publish_cycle(session, admin, draft.id, now=NOW).status == "published"


def test_replace_refuses_weights_not_summing_to_one_naming_the_sum(session, admin, draft):
    keep = make_criterion(session, draft, name="Keep", weight="1")
    items = [{"name": n, "weight": "0.3333"} for n in "abc"]
    with pytest.raises(WeightsInvalid, match=r"criteria weights sum to 0\.9999, not 1"):
        svc.replace_criteria(session, admin, draft.id, items)
    assert [c.id for c in svc.ordered_criteria(session, draft.id)] == [keep.id]
    assert audit_rows(session) == []


def test_replace_refuses_an_empty_set(session, admin, draft):
    make_criterion(session, draft, name="Keep", weight="1")
    with pytest.raises(WeightsInvalid, match="empty"):
        svc.replace_criteria(session, admin, draft.id, [])
    assert names(svc.ordered_criteria(session, draft.id)) == ["Keep"]
    assert audit_rows(session) == []


def test_replace_refuses_duplicate_names_in_the_new_set(session, admin, draft):
    items = [{"name": "Same", "weight": "0.5"}, {"name": "SAME", "weight": "0.5"}]
    with pytest.raises(DuplicateName):
        svc.replace_criteria(session, admin, draft.id, items)
    assert audit_rows(session) == []


def test_replace_reports_the_bad_item_field(session, admin, draft):
    items = [{"name": "ok", "weight": "0.5"}, {"name": "bad", "weight": "0.55555"}]
    with pytest.raises(ValidationFailed) as info:
        svc.replace_criteria(session, admin, draft.id, items)
    assert info.value.errors[0]["loc"] == ["body", "items", 1, "weight"]


def test_replace_keeps_the_id_of_a_criterion_kept_by_name(session, admin, draft):
    kept = make_criterion(session, draft, name="Impact", weight="0.5")
    make_criterion(session, draft, name="Dropped", weight="0.5")
    result = svc.replace_criteria(session, admin, draft.id, [{"name": "impact", "weight": "1"}])
    assert [(c.id, c.name, c.weight) for c in result] == [(kept.id, "impact", Decimal("1"))]
    assert len(audit_rows(session, action="criteria.replace")) == 1


def test_replace_with_the_identical_set_changes_nothing_and_writes_no_audit_row(session, admin, draft):
    a = make_criterion(session, draft, name="A", weight="0.5", position=0)
    b = make_criterion(session, draft, name="B", weight="0.5", position=1)
    result = svc.replace_criteria(
        session, admin, draft.id, [{"name": "A", "weight": "0.50"}, {"name": "B", "weight": 0.5}]
    )
    assert [c.id for c in result] == [a.id, b.id]
    assert audit_rows(session) == []
