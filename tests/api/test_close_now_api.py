"""HTTP: POST /cycles/{id}/close-nominations and /close-approvals."""

import uuid

import pytest

from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle
from tests.helpers import as_role, assert_problem, audit_rows


@pytest.fixture
def admin(session):
    return as_role(session, "admin")[1]


def test_close_nominations_returns_the_cycle_with_the_window_closed(client, session, admin):
    cycle = make_cycle(session)
    r = client.post(f"/cycles/{cycle.id}/close-nominations", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["nomination_closes_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert (body["nominations_open"], body["approvals_open"]) == (False, True)
    assert [row.action for row in audit_rows(session, entity_id=cycle.id)] == ["cycle.update"]


def test_close_approvals_then_finalize_at_once(client, session, admin):
    cycle = make_cycle(session)
    make_criterion(session, cycle)
    r = client.post(f"/cycles/{cycle.id}/close-approvals", headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["nominations_open"], r.json()["approvals_open"]) == (False, False)
    r = client.post(f"/cycles/{cycle.id}/finalize", headers=admin)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["close-nominations", "close-approvals"])
def test_refusals(client, session, admin, path):
    _, employee = as_role(session, "employee")
    closed = make_cycle(session, nominations="after", approvals="after")
    finalized = make_cycle(session, status="finalized", nominations="after", approvals="after")
    published = make_cycle(session)
    assert_problem(client.post(f"/cycles/{closed.id}/{path}", headers=admin), 409, "window_closed")
    assert_problem(client.post(f"/cycles/{finalized.id}/{path}", headers=admin), 409, "cycle_state")
    assert_problem(client.post(f"/cycles/{uuid.uuid4()}/{path}", headers=admin), 404, "not_found")
    assert_problem(client.post(f"/cycles/{published.id}/{path}", headers=employee), 403, "forbidden")
    assert_problem(client.post(f"/cycles/{published.id}/{path}"), 401, "unauthenticated")
    assert audit_rows(session) == []
