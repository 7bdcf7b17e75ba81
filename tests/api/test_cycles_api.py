"""HTTP: /cycles, /cycles/{id}/publish|archive, /cycles/{id}/criteria, /criteria/{id}."""

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from plaudit.models import Criterion, Cycle
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle
from tests.helpers import as_role, assert_problem, audit_rows

D = timedelta(days=1)
CYCLE_KEYS = {
    "id", "name", "description", "status", "nomination_opens_at", "nomination_closes_at", "approval_opens_at",
    "approval_closes_at", "rating_min", "rating_max", "required_approvals", "max_nominations_per_nominator",
    "award_slots", "nominator_roles", "winner_cooldown_cycles", "score_normalization", "nominations_open",
    "approvals_open", "created_at", "updated_at", "published_at", "finalized_at", "archived_at",
}
CRITERION_KEYS = {"id", "cycle_id", "name", "description", "weight", "position"}


@pytest.fixture
def admin(session):
    return as_role(session, "admin")[1]


@pytest.fixture
def employee(session):
    return as_role(session, "employee")[1]


def body(**override):
    values = {
        "name": "Spring awards",
        "nomination_opens_at": "2030-01-11T12:00:00Z",
        "nomination_closes_at": "2030-01-15T12:00:00Z",
        "approval_opens_at": "2030-01-12T12:00:00Z",
        "approval_closes_at": "2030-01-18T12:00:00Z",
    }
    values.update(override)
    return values


def parse(ts):
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def is_utc(ts):
    return parse(ts).utcoffset() == timedelta(0)


def draft_with(session, *weights):
    cycle = make_cycle(session, status="draft", nominations="before", approvals="before")
    for i, w in enumerate(weights):
        make_criterion(session, cycle, name=f"C{i}", weight=w, position=i)
    return cycle


# --- create ------------------------------------------------------------------


def test_post_cycles_creates_a_draft_with_defaults(client, session, admin):
    response = client.post("/cycles", json=body(), headers={**admin, "X-Request-ID": "req-create"})
    assert response.status_code == 201, response.text
    data = response.json()
    assert set(data) == CYCLE_KEYS
    assert data["status"] == "draft"
    assert (data["rating_min"], data["rating_max"], data["required_approvals"], data["award_slots"]) == (1, 5, 1, 3)
    assert data["max_nominations_per_nominator"] is None
    assert data["nominator_roles"] == ["employee", "team_lead", "manager", "admin"]
    assert (data["winner_cooldown_cycles"], data["score_normalization"]) == (0, "none")
    assert data["nominations_open"] is False and data["approvals_open"] is False
    assert data["published_at"] is None and data["finalized_at"] is None and data["archived_at"] is None
    (row,) = audit_rows(session)
    assert (row.action, row.entity_id, row.request_id) == ("cycle.create", uuid.UUID(data["id"]), "req-create")


def test_times_with_an_offset_come_back_in_utc(client, admin):
    response = client.post("/cycles", json=body(nomination_opens_at="2030-01-11T14:00:00+02:00"), headers=admin)
    data = response.json()
    assert is_utc(data["nomination_opens_at"]) and is_utc(data["created_at"])
    assert parse(data["nomination_opens_at"]) == NOW + D


def test_time_without_offset_is_a_validation_error(client, session, admin):
    problem = assert_problem(
        client.post("/cycles", json=body(nomination_opens_at="2030-01-11T12:00:00"), headers=admin),
        422, "validation_error",
    )
    assert problem["errors"][0]["loc"] == ["body", "nomination_opens_at"]
    assert audit_rows(session) == []


@pytest.mark.parametrize("field", [{"status": "published"}, {"published_at": "2030-01-01T00:00:00Z"},
                                   {"id": str(uuid.uuid4())}, {"color": "red"}])
def test_server_owned_or_unknown_fields_are_refused(client, session, admin, field):
    assert_problem(client.post("/cycles", json=body(**field), headers=admin), 422, "validation_error")
    assert audit_rows(session) == []


def test_broken_window_invariant_is_invalid_windows(client, session, admin):
    problem = assert_problem(
        client.post("/cycles", json=body(approval_opens_at="2030-01-10T12:00:00Z"), headers=admin),
        422, "invalid_windows",
    )
    assert "approval_opens_at must not be before nomination_opens_at" in problem["detail"]
    assert audit_rows(session) == []


def test_employee_cannot_create_a_cycle(client, session, employee):
    assert_problem(client.post("/cycles", json=body(), headers=employee), 403, "forbidden")
    assert audit_rows(session) == []


def test_no_token_is_unauthenticated(client):
    assert_problem(client.post("/cycles", json=body()), 401, "unauthenticated")


def test_cool_down_and_normalization_are_set_in_drafts_only(client, session, admin):
    created = client.post("/cycles", json=body(winner_cooldown_cycles=2, score_normalization="zscore"), headers=admin)
    assert created.status_code == 201, created.text
    assert (created.json()["winner_cooldown_cycles"], created.json()["score_normalization"]) == (2, "zscore")
    cycle_id = created.json()["id"]
    changed = client.patch(f"/cycles/{cycle_id}", json={"winner_cooldown_cycles": 0, "score_normalization": "none"},
                           headers=admin)
    assert (changed.json()["winner_cooldown_cycles"], changed.json()["score_normalization"]) == (0, "none")
    published = make_cycle(session, status="published")
    for field in ({"winner_cooldown_cycles": 1}, {"score_normalization": "zscore"}):
        assert_problem(client.patch(f"/cycles/{published.id}", json=field, headers=admin), 409, "cycle_state")


def test_duplicate_cycle_name_is_409(client, session, admin):
    assert client.post("/cycles", json=body(name="Awards"), headers=admin).status_code == 201
    assert_problem(client.post("/cycles", json=body(name="AWARDS"), headers=admin), 409, "duplicate_name")
    assert len(audit_rows(session)) == 1


@pytest.mark.parametrize("field", [{"rating_max": 101}, {"award_slots": 0}, {"nominator_roles": []},
                                   {"nominator_roles": ["boss"]}, {"name": ""}, {"required_approvals": 11},
                                   {"max_nominations_per_nominator": 10**12}, {"name": "nul\u0000"},
                                   {"rating_min": True}, {"award_slots": "3"}, {"rating_max": 7.5},
                                   {"nomination_opens_at": "0001-01-01T00:00:00+01:00"},
                                   {"winner_cooldown_cycles": 11}, {"winner_cooldown_cycles": "1"},
                                   {"score_normalization": "minmax"}, {"score_normalization": None}])
def test_out_of_range_fields_are_validation_errors(client, session, admin, field):
    assert_problem(client.post("/cycles", json=body(**field), headers=admin), 422, "validation_error")
    assert audit_rows(session) == []


# --- read --------------------------------------------------------------------


def test_drafts_are_404_for_non_admins(client, session, admin, employee):
    draft = make_cycle(session, status="draft")
    assert_problem(client.get(f"/cycles/{draft.id}", headers=employee), 404, "not_found")
    assert_problem(client.get(f"/cycles/{draft.id}/criteria", headers=employee), 404, "not_found")
    assert client.get(f"/cycles/{draft.id}", headers=admin).status_code == 200


def test_unknown_cycle_is_404(client, admin):
    assert_problem(client.get(f"/cycles/{uuid.uuid4()}", headers=admin), 404, "not_found")


def test_window_booleans_flip_at_exactly_opens_and_closes(client, session, clock, employee):
    cycle = make_cycle(session, status="published", nominations="before", approvals="before")
    tick = timedelta(microseconds=1)

    def flags():
        data = client.get(f"/cycles/{cycle.id}", headers=employee).json()
        return data["nominations_open"], data["approvals_open"]

    clock.set(cycle.nomination_opens_at - tick)
    assert flags() == (False, False)
    clock.set(cycle.nomination_opens_at)
    assert flags() == (True, False)
    clock.set(cycle.approval_opens_at)
    assert flags() == (True, True)
    clock.set(cycle.nomination_closes_at - tick)
    assert flags() == (True, True)
    clock.set(cycle.nomination_closes_at)
    assert flags() == (False, True)
    clock.set(cycle.approval_closes_at)
    assert flags() == (False, False)


def test_window_booleans_are_false_unless_published(client, session, admin):
    for status in ("draft", "finalized", "archived"):
        cycle = make_cycle(session, status=status)  # windows open around now
        data = client.get(f"/cycles/{cycle.id}", headers=admin).json()
        assert (data["nominations_open"], data["approvals_open"]) == (False, False)


# --- update ------------------------------------------------------------------


def test_patch_draft_changes_any_field(client, session, admin):
    cycle = make_cycle(session, status="draft")
    response = client.patch(f"/cycles/{cycle.id}", json={"name": "New name", "rating_max": 10,
                                                         "max_nominations_per_nominator": 2}, headers=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["rating_max"]) == ("New name", 10)
    (row,) = audit_rows(session)
    assert row.action == "cycle.update"
    assert row.payload["after"] == {"name": "New name", "rating_max": 10, "max_nominations_per_nominator": 2}


def test_patch_published_cycle_allows_description_windows_slots_roles(client, session, admin):
    cycle = make_cycle(session, status="published")
    response = client.patch(
        f"/cycles/{cycle.id}",
        json={"description": "More", "award_slots": 5, "nominator_roles": ["manager", "admin"],
              "approval_closes_at": (NOW + 9 * D).isoformat()},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["description"], data["award_slots"], data["nominator_roles"]) == ("More", 5, ["manager", "admin"])
    assert parse(data["approval_closes_at"]) == NOW + 9 * D
    assert len(audit_rows(session, action="cycle.update")) == 1


@pytest.mark.parametrize("change", [{"name": "Other"}, {"rating_min": 0}, {"required_approvals": 2},
                                    {"max_nominations_per_nominator": None}])
def test_patch_published_cycle_refuses_other_fields(client, session, admin, change):
    cycle = make_cycle(session, status="published")
    assert_problem(client.patch(f"/cycles/{cycle.id}", json=change, headers=admin), 409, "cycle_state")
    assert audit_rows(session) == []


def test_closing_nominations_early_on_a_published_cycle(client, session, admin):
    cycle = make_cycle(session, status="published")
    assert client.get(f"/cycles/{cycle.id}", headers=admin).json()["nominations_open"] is True
    response = client.patch(f"/cycles/{cycle.id}", json={"nomination_closes_at": NOW.isoformat()}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["nominations_open"] is False
    (row,) = audit_rows(session)
    assert row.payload["before"] == {"nomination_closes_at": (NOW + 5 * D).isoformat()}


def test_extending_the_approval_deadline_reopens_approvals(client, session, admin):
    cycle = make_cycle(session, status="published", nominations="after", approvals="after")
    response = client.patch(f"/cycles/{cycle.id}", json={"approval_closes_at": (NOW + D).isoformat()}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["approvals_open"] is True


def test_moving_a_published_window_against_an_invariant_is_invalid_windows(client, session, admin):
    cycle = make_cycle(session, status="published")
    assert_problem(
        client.patch(f"/cycles/{cycle.id}", json={"approval_opens_at": (NOW - 9 * D).isoformat()}, headers=admin),
        422, "invalid_windows",
    )
    assert audit_rows(session) == []


@pytest.mark.parametrize("status", ["finalized", "archived"])
def test_patch_finalized_or_archived_is_cycle_state(client, session, admin, status):
    cycle = make_cycle(session, status=status, nominations="after", approvals="after")
    assert_problem(client.patch(f"/cycles/{cycle.id}", json={"description": "x"}, headers=admin), 409, "cycle_state")


def test_patch_null_for_a_required_field_is_a_validation_error(client, session, admin):
    cycle = make_cycle(session, status="draft")
    assert_problem(client.patch(f"/cycles/{cycle.id}", json={"name": None}, headers=admin), 422, "validation_error")
    assert_problem(client.patch(f"/cycles/{cycle.id}", json={"status": "published"}, headers=admin),
                   422, "validation_error")


def test_patch_by_employee_is_forbidden(client, session, employee):
    cycle = make_cycle(session, status="published")
    assert_problem(client.patch(f"/cycles/{cycle.id}", json={"description": "x"}, headers=employee), 403, "forbidden")


# --- delete ------------------------------------------------------------------


def test_delete_draft_is_204_and_takes_its_criteria(client, session, admin):
    cycle = draft_with(session, "1")
    cycle_id = cycle.id
    response = client.delete(f"/cycles/{cycle_id}", headers=admin)
    assert response.status_code == 204 and response.content == b""
    session.expunge_all()
    assert session.get(Cycle, cycle_id) is None
    assert session.scalars(select(Criterion).where(Criterion.cycle_id == cycle_id)).all() == []
    (row,) = audit_rows(session)
    assert (row.action, row.entity_id) == ("cycle.delete", cycle_id)


def test_delete_published_is_cycle_state(client, session, admin):
    cycle = make_cycle(session, status="published")
    assert_problem(client.delete(f"/cycles/{cycle.id}", headers=admin), 409, "cycle_state")
    assert audit_rows(session) == []


# --- publish -----------------------------------------------------------------


def test_publish_returns_the_published_cycle(client, session, clock, admin):
    cycle = draft_with(session, "0.3333", "0.3333", "0.3334")
    clock.set(NOW + timedelta(hours=3))
    response = client.post(f"/cycles/{cycle.id}/publish", headers=admin)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["status"] == "published"
    assert parse(data["published_at"]) == NOW + timedelta(hours=3)
    (row,) = audit_rows(session)
    assert row.action == "cycle.publish" and row.payload["after"]["status"] == "published"


def test_publish_with_weights_not_summing_to_one_is_weights_invalid(client, session, admin):
    cycle = draft_with(session, "0.3333", "0.3333", "0.3333")
    problem = assert_problem(client.post(f"/cycles/{cycle.id}/publish", headers=admin), 409, "weights_invalid")
    assert "0.9999" in problem["detail"]
    assert audit_rows(session) == []


def test_publish_without_criteria_is_weights_invalid(client, session, admin):
    cycle = draft_with(session)
    assert_problem(client.post(f"/cycles/{cycle.id}/publish", headers=admin), 409, "weights_invalid")


def test_publish_twice_is_cycle_state(client, session, admin):
    cycle = draft_with(session, "1")
    assert client.post(f"/cycles/{cycle.id}/publish", headers=admin).status_code == 200
    assert_problem(client.post(f"/cycles/{cycle.id}/publish", headers=admin), 409, "cycle_state")
    assert len(audit_rows(session)) == 1


def test_employee_publishing_a_draft_is_not_found(client, session, employee):
    """Drafts are invisible to employees, and visibility comes before the who column (API.md, Precedence)."""
    cycle = draft_with(session, "1")
    assert_problem(client.post(f"/cycles/{cycle.id}/publish", headers=employee), 404, "not_found")


# --- archive -----------------------------------------------------------------


def test_archive_is_idempotent(client, session, clock, admin):
    cycle = make_cycle(session, status="finalized", nominations="after", approvals="after")
    first = client.post(f"/cycles/{cycle.id}/archive", headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "archived" and parse(first.json()["archived_at"]) == NOW
    clock.advance(D)
    again = client.post(f"/cycles/{cycle.id}/archive", headers=admin)
    assert again.status_code == 200
    assert again.json()["archived_at"] == first.json()["archived_at"]
    assert [r.action for r in audit_rows(session)] == ["cycle.archive"]


def test_archive_published_is_cycle_state(client, session, admin):
    cycle = make_cycle(session, status="published")
    assert_problem(client.post(f"/cycles/{cycle.id}/archive", headers=admin), 409, "cycle_state")
    assert audit_rows(session) == []


# --- list --------------------------------------------------------------------


def all_pages(client, headers, limit=2, **params):
    ids, cursor = [], None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/cycles", headers=headers, params=query)
        assert response.status_code == 200, response.text
        data = response.json()
        assert len(data["items"]) <= limit
        ids += [item["id"] for item in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            return ids


def test_list_pages_newest_first_without_gaps_or_repeats(client, session, admin):
    made = [make_cycle(session, status="published", created_at=NOW - k * timedelta(hours=1)) for k in range(5)]
    made += [make_cycle(session, status="published", created_at=NOW) for _ in range(2)]  # ties broken by id
    expected = [str(c.id) for c in sorted(made, key=lambda c: (c.created_at, c.id), reverse=True)]
    assert all_pages(client, admin) == expected


def test_list_leaves_archived_out_unless_asked(client, session, admin):
    live = make_cycle(session, status="published")
    archived = make_cycle(session, status="archived", nominations="after", approvals="after")
    assert all_pages(client, admin) == [str(live.id)]
    assert all_pages(client, admin, status="archived") == [str(archived.id)]
    assert set(all_pages(client, admin, include_archived="true")) == {str(live.id), str(archived.id)}


def test_list_shows_drafts_to_admins_only(client, session, admin, employee):
    draft = make_cycle(session, status="draft")
    published = make_cycle(session, status="published")
    assert set(all_pages(client, admin)) == {str(draft.id), str(published.id)}
    assert all_pages(client, employee) == [str(published.id)]
    assert all_pages(client, employee, status="draft") == []


def test_list_items_are_cycle_objects(client, session, employee):
    make_cycle(session, status="published")
    data = client.get("/cycles", headers=employee).json()
    assert set(data) == {"items", "next_cursor"}
    assert set(data["items"][0]) == CYCLE_KEYS
    assert data["items"][0]["nominations_open"] is True


@pytest.mark.parametrize("params", [{"status": "closed"}, {"limit": 0}, {"limit": 201}, {"cursor": "garbage!"}])
def test_list_refuses_bad_query_parameters(client, admin, params):
    assert_problem(client.get("/cycles", headers=admin, params=params), 422, "validation_error")


# --- criteria ----------------------------------------------------------------


def test_post_criterion_returns_201_with_a_fixed_point_weight(client, session, admin):
    cycle = draft_with(session)
    response = client.post(f"/cycles/{cycle.id}/criteria", json={"name": "Impact", "weight": "0.25"}, headers=admin)
    assert response.status_code == 201, response.text
    data = response.json()
    assert set(data) == CRITERION_KEYS
    assert (data["weight"], data["position"], data["description"]) == ("0.2500", 0, "")
    assert data["cycle_id"] == str(cycle.id)
    (row,) = audit_rows(session)
    assert (row.action, row.entity_id) == ("criterion.create", uuid.UUID(data["id"]))


def test_weight_as_json_number_is_exact(client, session, admin):
    cycle = draft_with(session)
    response = client.post(f"/cycles/{cycle.id}/criteria", json={"name": "Craft", "weight": 0.1}, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["weight"] == "0.1000"


@pytest.mark.parametrize("weight", [0, -0.5, 1.5, 0.12345, "0.00001", "abc", None, True])
def test_bad_weight_is_a_field_level_validation_error(client, session, admin, weight):
    cycle = draft_with(session)
    problem = assert_problem(
        client.post(f"/cycles/{cycle.id}/criteria", json={"name": "W", "weight": weight}, headers=admin),
        422, "validation_error",
    )
    assert problem["errors"][0]["loc"][:2] == ["body", "weight"]
    assert audit_rows(session) == []


@pytest.mark.parametrize("extra", [{"cycle_id": str(uuid.uuid4())}, {"id": str(uuid.uuid4())}, {"colour": 1}])
def test_criterion_body_refuses_unknown_and_server_owned_fields(client, session, admin, extra):
    cycle = draft_with(session)
    assert_problem(client.post(f"/cycles/{cycle.id}/criteria", json={"name": "X", "weight": "1", **extra},
                               headers=admin), 422, "validation_error")


def test_criteria_of_a_published_cycle_are_read_only(client, session, admin):
    cycle = make_cycle(session, status="published")
    criterion = make_criterion(session, cycle)
    assert_problem(client.post(f"/cycles/{cycle.id}/criteria", json={"name": "X", "weight": "1"}, headers=admin),
                   409, "cycle_state")
    assert_problem(client.patch(f"/criteria/{criterion.id}", json={"name": "Y"}, headers=admin), 409, "cycle_state")
    assert_problem(client.delete(f"/criteria/{criterion.id}", headers=admin), 409, "cycle_state")
    assert_problem(client.put(f"/cycles/{cycle.id}/criteria", json={"items": [{"name": "Z", "weight": 1}]},
                              headers=admin), 409, "cycle_state")
    assert audit_rows(session) == []


def test_get_criteria_lists_by_position_then_name(client, session, employee):
    cycle = make_cycle(session, status="published")
    make_criterion(session, cycle, name="b", position=1, weight="0.25")
    make_criterion(session, cycle, name="a", position=1, weight="0.25")
    make_criterion(session, cycle, name="z", position=0, weight="0.5")
    response = client.get(f"/cycles/{cycle.id}/criteria", headers=employee)
    assert response.status_code == 200
    assert set(response.json()) == {"items"}
    assert [(c["name"], c["weight"]) for c in response.json()["items"]] == [("z", "0.5000"), ("a", "0.2500"),
                                                                             ("b", "0.2500")]


def test_patch_criterion(client, session, admin):
    cycle = draft_with(session, "0.5")
    criterion = session.scalars(select(Criterion).where(Criterion.cycle_id == cycle.id)).one()
    response = client.patch(f"/criteria/{criterion.id}", json={"weight": 0.75, "description": "d"}, headers=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["weight"], response.json()["description"]) == ("0.7500", "d")
    (row,) = audit_rows(session)
    assert row.action == "criterion.update"
    assert row.payload == {"before": {"weight": "0.5000", "description": ""},
                           "after": {"weight": "0.7500", "description": "d"}}


def test_delete_criterion_is_204(client, session, admin):
    cycle = draft_with(session, "0.5")
    criterion = session.scalars(select(Criterion).where(Criterion.cycle_id == cycle.id)).one()
    assert client.delete(f"/criteria/{criterion.id}", headers=admin).status_code == 204
    assert [r.action for r in audit_rows(session)] == ["criterion.delete"]
    assert_problem(client.delete(f"/criteria/{criterion.id}", headers=admin), 404, "not_found")


def test_put_criteria_replaces_the_set(client, session, admin):
    cycle = draft_with(session, "1")
    items = [{"name": "Impact", "weight": "0.6"}, {"name": "Craft", "weight": 0.4, "position": 5}]
    response = client.put(f"/cycles/{cycle.id}/criteria", json={"items": items}, headers=admin)
    assert response.status_code == 200, response.text
    assert [(c["name"], c["weight"], c["position"]) for c in response.json()["items"]] == [
        ("Impact", "0.6000", 0), ("Craft", "0.4000", 5)
    ]
    (row,) = audit_rows(session)
    assert (row.action, row.entity_type, row.entity_id) == ("criteria.replace", "cycle", cycle.id)


def test_put_ten_tenths_as_strings_then_publish(client, session, admin):
    cycle = draft_with(session)
    items = [{"name": f"c{i}", "weight": "0.1"} for i in range(10)]
    assert client.put(f"/cycles/{cycle.id}/criteria", json={"items": items}, headers=admin).status_code == 200
    assert client.post(f"/cycles/{cycle.id}/publish", headers=admin).status_code == 200


def test_put_criteria_not_summing_to_one_is_weights_invalid(client, session, admin):
    cycle = draft_with(session, "1")
    items = [{"name": n, "weight": "0.3333"} for n in "abc"]
    problem = assert_problem(client.put(f"/cycles/{cycle.id}/criteria", json={"items": items}, headers=admin),
                             409, "weights_invalid")
    assert "0.9999" in problem["detail"]
    assert audit_rows(session) == []


def test_put_criteria_with_duplicate_names_is_duplicate_name(client, session, admin):
    cycle = draft_with(session)
    items = [{"name": "Same", "weight": "0.5"}, {"name": "same", "weight": "0.5"}]
    assert_problem(client.put(f"/cycles/{cycle.id}/criteria", json={"items": items}, headers=admin),
                   409, "duplicate_name")


def test_employee_cannot_change_criteria(client, session, employee):
    cycle = make_cycle(session, status="published")
    assert_problem(client.post(f"/cycles/{cycle.id}/criteria", json={"name": "X", "weight": "1"},
                               headers=employee), 403, "forbidden")
