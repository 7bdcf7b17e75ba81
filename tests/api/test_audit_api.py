"""HTTP: GET /audit-logs (admins only, newest first, filters, keyset paging)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from plaudit.errors import Forbidden
from plaudit.models import AuditLog
from plaudit.services import audit
from tests.factories import make_user
from tests.helpers import as_role

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def add_row(session, *, action="user.update", entity_type="user", entity_id=None, actor_id=None,
            occurred_at=None, request_id=None):
    row = AuditLog(action=action, entity_type=entity_type, entity_id=entity_id or uuid.uuid4(), actor_id=actor_id,
                   payload={"after": {"n": 1}}, request_id=request_id, occurred_at=occurred_at or T0)
    session.add(row)
    session.flush()
    return row


def get(client, headers, **params):
    response = client.get("/audit-logs", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_only_admins_read_the_audit_log(session, client, role):
    _, headers = as_role(session, role)
    response = client.get("/audit-logs", headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_audit_log_needs_a_token(client):
    response = client.get("/audit-logs")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_entries_have_the_documented_shape_and_come_newest_first(session, client):
    admin, headers = as_role(session, "admin")
    first = add_row(session, actor_id=admin.id, request_id="req-1")
    second = add_row(session, occurred_at=T0 - timedelta(days=1))  # older clock, later insert: seq decides
    body = get(client, headers)
    assert [i["id"] for i in body["items"][:2]] == [str(second.id), str(first.id)]
    entry = body["items"][1]
    assert set(entry) == {"id", "occurred_at", "actor_id", "actor_name", "action", "entity_type", "entity_id",
                          "payload", "request_id"}
    assert entry["actor_name"] == admin.display_name and body["items"][0]["actor_name"] is None
    assert (entry["actor_id"], entry["request_id"], entry["payload"]) == (str(admin.id), "req-1", {"after": {"n": 1}})


def test_filters_combine(session, client):
    admin, headers = as_role(session, "admin")
    target = uuid.uuid4()
    wanted = add_row(session, action="team.update", entity_type="team", entity_id=target, actor_id=admin.id)
    add_row(session, action="team.create", entity_type="team", entity_id=target, actor_id=admin.id)
    add_row(session, action="team.update", entity_type="team", entity_id=uuid.uuid4(), actor_id=admin.id)
    add_row(session, action="team.update", entity_type="team", entity_id=target)
    body = get(client, headers, entity_type="team", entity_id=str(target), actor_id=str(admin.id),
               action="team.update")
    assert [i["id"] for i in body["items"]] == [str(wanted.id)]
    assert get(client, headers, entity_type="cycle", entity_id=str(target))["items"] == []


def test_since_is_inclusive_and_until_exclusive(session, client):
    _, headers = as_role(session, "admin")
    rows = {hour: add_row(session, action="cycle.update", entity_type="cycle",
                          occurred_at=T0 + timedelta(hours=hour)) for hour in range(4)}
    body = get(client, headers, entity_type="cycle", since=(T0 + timedelta(hours=1)).isoformat(),
               until=(T0 + timedelta(hours=3)).isoformat())
    assert [i["id"] for i in body["items"]] == [str(rows[2].id), str(rows[1].id)]
    body = get(client, headers, entity_type="cycle", since="2030-01-01T03:00:00+02:00")  # = 01:00 UTC
    assert [i["id"] for i in body["items"]] == [str(rows[3].id), str(rows[2].id), str(rows[1].id)]


@pytest.mark.parametrize(
    "params",
    [{"since": "2030-01-01T00:00:00"}, {"until": "yesterday"}, {"entity_id": "nope"}, {"actor_id": "1"},
     {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, {"limit": 0}, {"cursor": "%%%"}],
)
def test_bad_query_parameters_are_422(session, client, params):
    _, headers = as_role(session, "admin")
    response = client.get("/audit-logs", headers=headers, params=params)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"


def test_paging_newest_first_without_gaps_or_repeats(session, client):
    _, headers = as_role(session, "admin")
    made = [add_row(session, action="criterion.update", entity_type="criterion") for _ in range(7)]
    seen, cursor = [], None
    while True:
        params = {"entity_type": "criterion", "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = get(client, headers, **params)
        seen.extend(i["id"] for i in body["items"])
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == [str(r.id) for r in reversed(made)]


def test_a_page_cursor_stays_valid_when_new_rows_arrive(session, client):
    _, headers = as_role(session, "admin")
    made = [add_row(session, entity_type="nomination", action="nomination.update") for _ in range(4)]
    page1 = get(client, headers, entity_type="nomination", limit=2)
    add_row(session, entity_type="nomination", action="nomination.update")  # newer: not on later pages
    page2 = get(client, headers, entity_type="nomination", limit=2, cursor=page1["next_cursor"])
    assert [i["id"] for i in page1["items"] + page2["items"]] == [str(r.id) for r in reversed(made)]


def test_reading_the_audit_log_writes_no_audit_row(session, client):
    _, headers = as_role(session, "admin")
    get(client, headers)
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_rows_written_during_a_request_carry_its_request_id(session, client):
    _, headers = as_role(session, "admin")
    response = client.post("/teams", headers={**headers, "X-Request-ID": "trace-abc.1"}, json={"name": "Traced"})
    assert response.status_code == 201
    (entry,) = get(client, headers, entity_id=response.json()["id"])["items"]
    assert (entry["action"], entry["request_id"]) == ("team.create", "trace-abc.1")


def test_service_refuses_non_admins_and_allows_the_command_line(session):
    add_row(session)
    with pytest.raises(Forbidden):
        audit.list_audit_logs(session, make_user(session, role="manager"))
    assert len(audit.list_audit_logs(session, None).items) == 1
