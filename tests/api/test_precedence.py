"""Precedence (API.md, Conventions): 401, then 404 for the path's objects, then
the path's who column (403), and only then the body and query (422).

Every admin-only path of API.md is listed here; those the app serves are
tested (paths added later join as their routes appear, and a route that takes
`AdminUser` but is missing from the list fails `test_every_admin_route_is_listed`).
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.api.precedence import Who, route_who
from plaudit.db.base import Base
from tests.api.test_platform import api_routes
from tests.factories import (
    auth,
    make_criterion,
    make_cycle,
    make_nomination,
    make_org,
    make_team,
    make_token,
    make_user,
)
from tests.helpers import as_role, assert_problem

CYCLE_BODY = {
    "name": "Precedence awards",
    "nomination_opens_at": "2030-01-11T12:00:00Z",
    "nomination_closes_at": "2030-01-15T12:00:00Z",
    "approval_opens_at": "2030-01-12T12:00:00Z",
    "approval_closes_at": "2030-01-18T12:00:00Z",
}
MALFORMED = object()  # a body that is not JSON at all


@dataclass(frozen=True)
class AdminPath:
    method: str
    path: str
    valid: Any = None  # JSON body, or (for GET) None
    invalid: dict[str, Any] | None = None  # a JSON body, or query parameters for bodiless paths
    query: dict[str, str] = field(default_factory=dict)  # invalid query parameters
    content: bytes | None = None  # a raw valid body (CSV imports)

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH") and (self.valid is not None or self.content is not None)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ADMIN_PATHS = [
    AdminPath("POST", "/cycles", CYCLE_BODY, {"name": "x"}),
    AdminPath("PATCH", "/cycles/{cycle_id}", {"description": "d"}, {"rating_max": "many"}),
    AdminPath("DELETE", "/cycles/{cycle_id}"),
    AdminPath("POST", "/cycles/{cycle_id}/publish"),
    AdminPath("POST", "/cycles/{cycle_id}/finalize"),
    AdminPath("POST", "/cycles/{cycle_id}/archive"),
    AdminPath("POST", "/cycles/{cycle_id}/close-nominations"),
    AdminPath("POST", "/cycles/{cycle_id}/close-approvals"),
    AdminPath("GET", "/cycles/{cycle_id}/preview"),
    AdminPath("POST", "/cycles/{cycle_id}/preview", {}, {"normalization": "sometimes"}),
    AdminPath("POST", "/cycles/{cycle_id}/criteria", {"name": "Impact", "weight": "0.5"}, {"weight": []}),
    AdminPath("PUT", "/cycles/{cycle_id}/criteria", {"items": [{"name": "Impact", "weight": "1"}]}, {"items": 5}),
    AdminPath("PATCH", "/criteria/{criterion_id}", {"name": "Craft"}, {"weight": {}}),
    AdminPath("DELETE", "/criteria/{criterion_id}"),
    AdminPath("POST", "/users", {"email": "new@example.org", "display_name": "New", "role": "employee"},
              {"email": 5}),
    AdminPath("PATCH", "/users/{user_id}", {"display_name": "Renamed"}, {"role": "king"}),
    AdminPath("POST", "/teams", {"name": "New team"}, {}),
    AdminPath("PATCH", "/teams/{team_id}", {"name": "Renamed team"}, {"name": 5}),
    AdminPath("GET", "/audit-logs", query={"since": "not a time", "limit": "0"}),
    AdminPath("POST", "/imports/people", content=b"email,display_name,role\nx@example.org,X,employee\n",
              query={"dry_run": "perhaps"}),
    AdminPath("GET", "/notifications/outbox", query={"limit": "0"}),
]


def served(app) -> set[tuple[str, str]]:
    return {(method, route.path) for route in api_routes(app) for method in route.methods}


def test_every_admin_route_is_listed(app):
    """A route whose caller is `AdminUser` is listed above, and every listed
    path the app serves takes `AdminUser`: the two agree."""
    admin_routes = {
        (method, route.path) for route in api_routes(app) for method in route.methods
        if (who := route_who(route.dependant)) is not None and who.eager
    }
    listed = {(p.method, p.path) for p in ADMIN_PATHS} & served(app)
    assert admin_routes == listed
    assert len(listed) >= 16


def snapshot(session: Session) -> dict[str, int]:
    """Row counts of every table: a refused request changes none of them."""
    session.expire_all()
    return {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def url_for(admin_path: AdminPath, objects: dict[str, Any]) -> str:
    return admin_path.path.format(**{name: value.id for name, value in objects.items()})


def send(client, admin_path: AdminPath, url: str, headers: dict[str, str], body: Any, *, query=None):
    kwargs: dict[str, Any] = {"headers": headers, "params": query}
    if body is MALFORMED:
        kwargs["content"] = b"{not json"
        kwargs["headers"] = {**headers, "content-type": "application/json"}
    elif admin_path.content is not None and body is not None:
        kwargs["content"] = admin_path.content
        kwargs["headers"] = {**headers, "content-type": "text/csv"}
    elif body is not None:
        kwargs["json"] = body
    return client.request(admin_path.method, url, **kwargs)


def attempts(admin_path: AdminPath) -> list[tuple[Any, dict[str, str] | None]]:
    """(body, query) pairs: a valid request, then every kind of invalid one the path has."""
    valid_body = admin_path.content if admin_path.content is not None else admin_path.valid
    tries: list[tuple[Any, dict[str, str] | None]] = [(valid_body, None)]
    if admin_path.invalid is not None:
        tries.append((admin_path.invalid, None))
    if admin_path.has_body:
        tries.append((MALFORMED, None))
    if admin_path.query:
        tries.append((valid_body, admin_path.query))
    return tries


def path_objects(session: Session, *, cycle_status: str) -> dict[str, Any]:
    cycle = make_cycle(session, status=cycle_status,
                       **({"nominations": "before", "approvals": "before"} if cycle_status == "draft" else {}))
    return {
        "cycle_id": cycle,
        "criterion_id": make_criterion(session, cycle, weight="1"),
        "user_id": make_user(session),
        "team_id": make_team(session),
    }


def served_paths(app) -> list[AdminPath]:
    return [p for p in ADMIN_PATHS if (p.method, p.path) in served(app)]


@pytest.fixture
def admin_paths(app) -> list[AdminPath]:
    found = served_paths(app)
    assert found
    return found


def test_an_employee_is_refused_with_403_whatever_the_body(session, client, admin_paths):
    _, employee = as_role(session, "employee")
    objects = path_objects(session, cycle_status="published")
    before = snapshot(session)
    for admin_path in admin_paths:
        for body, query in attempts(admin_path):
            response = send(client, admin_path, url_for(admin_path, objects), employee, body, query=query)
            assert response.status_code == 403, (str(admin_path), body, query, response.text)
            assert_problem(response, 403, "forbidden")
    assert snapshot(session) == before


def test_an_employee_gets_404_for_an_object_they_cannot_see(session, client, admin_paths):
    """A draft cycle (and its criteria) is invisible to an employee: 404 before 403."""
    _, employee = as_role(session, "employee")
    objects = path_objects(session, cycle_status="draft")
    before = snapshot(session)
    named = [p for p in admin_paths if "{cycle_id}" in p.path or "{criterion_id}" in p.path]
    assert len(named) >= 10
    for admin_path in named:
        for body, query in attempts(admin_path):
            response = send(client, admin_path, url_for(admin_path, objects), employee, body, query=query)
            assert response.status_code == 404, (str(admin_path), body, query, response.text)
            assert_problem(response, 404, "not_found")
    assert snapshot(session) == before


def test_no_token_is_401_before_the_body(session, client, admin_paths):
    objects = path_objects(session, cycle_status="draft")
    for admin_path in admin_paths:
        for body, query in attempts(admin_path):
            response = send(client, admin_path, url_for(admin_path, objects), {}, body, query=query)
            assert_problem(response, 401, "unauthenticated")


def test_an_admin_gets_404_for_a_missing_object_before_the_body(session, client, admin_paths):
    _, admin = as_role(session, "admin")
    missing = {name: type("Missing", (), {"id": uuid.uuid4()}) for name in ("cycle_id", "criterion_id", "user_id",
                                                                              "team_id")}
    for admin_path in admin_paths:
        if "{" not in admin_path.path:
            continue
        for body, query in attempts(admin_path)[1:]:
            response = send(client, admin_path, url_for(admin_path, missing), admin, body, query=query)
            assert response.status_code == 404, (str(admin_path), body, query, response.text)


def test_an_admin_gets_the_validation_error(session, client, admin_paths):
    _, admin = as_role(session, "admin")
    objects = path_objects(session, cycle_status="draft")
    for admin_path in admin_paths:
        for body, query in attempts(admin_path)[1:]:
            response = send(client, admin_path, url_for(admin_path, objects), admin, body, query=query)
            assert response.status_code == 422, (str(admin_path), body, query, response.text)
            assert_problem(response, 422, "validation_error")


# --- who columns other than admin ---------------------------------------------------


def test_editing_a_nomination_checks_who_before_the_body(session, client):
    org = make_org(session)
    cycle = make_cycle(session)
    nomination = make_nomination(session, cycle, org.nominator, org.nominee)
    url = f"/nominations/{nomination.id}"
    stranger, admin, nominator = (as_role_of(session, u) for u in (org.stranger, org.admin, org.nominator))
    before = snapshot(session)
    for bad in ({"justification": 5}, {"colour": "blue"}):
        # The stranger cannot see it: 404. The admin sees it but did not make it: 403. The nominator: 422.
        assert_problem(client.patch(url, json=bad, headers=stranger), 404, "not_found")
        assert_problem(client.patch(url, json=bad, headers=admin), 403, "forbidden")
        assert_problem(client.patch(url, json=bad, headers=nominator), 422, "validation_error")
    assert_problem(client.patch(f"/nominations/{uuid.uuid4()}", json={}, headers=nominator), 404, "not_found")
    assert snapshot(session) == before


def test_approving_checks_who_before_the_body(session, client):
    org = make_org(session)
    cycle = make_cycle(session)
    nomination = make_nomination(session, cycle, org.nominator, org.nominee)
    url = f"/nominations/{nomination.id}/approval"
    stranger, nominator, manager = (as_role_of(session, u) for u in (org.stranger, org.nominator, org.manager))
    before = snapshot(session)
    bad = {"decision": "maybe"}
    assert_problem(client.put(url, json=bad, headers=stranger), 404, "not_found")
    assert_problem(client.put(url, json=bad, headers=nominator), 403, "not_approver")
    assert_problem(client.put(url, json=bad, headers=manager), 422, "validation_error")
    assert snapshot(session) == before


def test_issuing_a_token_checks_who_before_the_body(session, client):
    someone, _ = as_role(session, "employee")
    me, headers = as_role(session, "employee")
    bad = {"name": 5}
    assert_problem(client.post(f"/users/{someone.id}/tokens", json=bad, headers=headers), 403, "forbidden")
    assert_problem(client.post(f"/users/{uuid.uuid4()}/tokens", json=bad, headers=headers), 404, "not_found")
    assert_problem(client.post(f"/users/{me.id}/tokens", json=bad, headers=headers), 422, "validation_error")


def test_nominating_in_an_invisible_cycle_is_404_before_the_body(session, client):
    draft = make_cycle(session, status="draft", nominations="before", approvals="before")
    _, employee = as_role(session, "employee")
    for bad in ({"nominee_id": "x"}, MALFORMED):
        kwargs = {"content": b"{", "headers": {**employee, "content-type": "application/json"}} \
            if bad is MALFORMED else {"json": bad, "headers": employee}
        assert_problem(client.post(f"/cycles/{draft.id}/nominations", **kwargs), 404, "not_found")


def test_who_dependencies_are_found_on_their_routes(app):
    whos = {route.path: route_who(route.dependant) for route in api_routes(app)}
    assert isinstance(whos["/nominations/{nomination_id}"], Who)
    assert whos["/users/me"] is None


def as_role_of(session: Session, user) -> dict[str, str]:
    return auth(make_token(session, user))


def test_a_malformed_id_names_nothing(session, client):
    """On an admin path an employee still gets 403; elsewhere the malformed id's 422 stands."""
    _, employee = as_role(session, "employee")
    assert_problem(client.patch("/cycles/not-a-uuid", json={"rating_max": "x"}, headers=employee), 403, "forbidden")
    assert_problem(client.patch("/nominations/not-a-uuid", json={"justification": 5}, headers=employee), 422,
                   "validation_error")


def test_awards_are_404_to_others_before_the_query(session, client):
    user, own = as_role(session, "employee")
    _, stranger = as_role(session, "employee")
    url = f"/users/{user.id}/awards"
    assert_problem(client.get(url, params={"limit": 0}, headers=stranger), 404, "not_found")
    assert_problem(client.get(url, params={"limit": 0}, headers=own), 422, "validation_error")
    assert client.get(url, headers=own).status_code == 200
