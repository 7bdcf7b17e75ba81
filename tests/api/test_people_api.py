"""HTTP: /users, /users/me, /users/{id}/tokens, /tokens/{id}, /teams."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from plaudit.models import ApiToken
from tests.conftest import NOW
from tests.factories import auth, make_team, make_token, make_user
from tests.helpers import as_role, assert_problem, audit_rows

ROLES = ["employee", "team_lead", "manager", "admin"]


def all_pages(client, path, headers, limit=3, **params):
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, headers=headers, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        if (cursor := body["next_cursor"]) is None:
            return items, pages


# --- users ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_users_me_returns_the_caller_in_the_user_shape(session, client, role):
    team = make_team(session)
    user, headers = as_role(session, role, team=team)
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "display_name", "role", "team_id", "is_active", "created_at"}
    assert (body["id"], body["role"], body["team_id"], body["is_active"]) == (str(user.id), role, str(team.id), True)


@pytest.mark.parametrize("role", ROLES)
def test_any_user_reads_any_user(session, client, role):
    _, headers = as_role(session, role)
    other = make_user(session, is_active=False)
    response = client.get(f"/users/{other.id}", headers=headers)
    assert response.status_code == 200 and response.json()["email"] == other.email


def test_unknown_user_is_not_found_and_a_bad_id_is_422(session, client):
    _, headers = as_role(session)
    assert_problem(client.get(f"/users/{uuid.uuid4()}", headers=headers), 404, "not_found")
    assert_problem(client.get("/users/not-a-uuid", headers=headers), 422, "validation_error")


def test_admin_creates_a_user_and_the_audit_row_has_the_request_id(session, client):
    admin, headers = as_role(session, "admin")
    team = make_team(session)
    response = client.post(
        "/users",
        headers={**headers, "X-Request-ID": "req-create-user"},
        json={"email": "New.Person@Example.org", "display_name": " New Person ", "role": "team_lead",
              "team_id": str(team.id)},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["email"], body["display_name"], body["role"], body["team_id"], body["is_active"]) == (
        "new.person@example.org", "New Person", "team_lead", str(team.id), True)
    (row,) = audit_rows(session, action="user.create")
    assert (row.entity_id, row.actor_id, row.request_id) == (uuid.UUID(body["id"]), admin.id, "req-create-user")


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_non_admins_cannot_create_users(session, client, role):
    _, headers = as_role(session, role)
    response = client.post("/users", headers=headers,
                           json={"email": "x@example.org", "display_name": "X", "role": "employee"})
    assert_problem(response, 403, "forbidden")
    assert audit_rows(session) == []


def test_duplicate_email_in_any_case_is_409(session, client):
    _, headers = as_role(session, "admin")
    make_user(session, email="dup@example.org")
    response = client.post("/users", headers=headers,
                           json={"email": "DUP@example.org", "display_name": "X", "role": "employee"})
    assert_problem(response, 409, "duplicate_name")
    assert audit_rows(session) == []


def test_unknown_team_on_create_is_422_on_team_id(session, client):
    _, headers = as_role(session, "admin")
    response = client.post("/users", headers=headers, json={"email": "x@example.org", "display_name": "X",
                                                            "role": "employee", "team_id": str(uuid.uuid4())})
    assert_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["loc"] == ["body", "team_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.org", "display_name": "X", "role": "employee", "is_active": False},  # server-owned
        {"email": "x@example.org", "display_name": "X", "role": "employee", "id": str(uuid.uuid4())},
        {"email": "x@example.org", "display_name": "X", "role": "employee", "nickname": "x"},  # unknown
        {"email": "x@example.org", "display_name": "X", "role": "superuser"},
        {"email": "not-an-email", "display_name": "X", "role": "employee"},
        {"email": "x@example.org", "display_name": "   ", "role": "employee"},
        {"email": "x@example.org", "display_name": "x" * 201, "role": "employee"},
        {"email": "x@example.org", "role": "employee"},
        {"email": 7, "display_name": "X", "role": "employee"},
    ],
)
def test_create_user_body_is_strict(session, client, body):
    _, headers = as_role(session, "admin")
    assert_problem(client.post("/users", headers=headers, json=body), 422, "validation_error")
    assert audit_rows(session) == []


def test_malformed_json_is_422_not_500(session, client):
    _, headers = as_role(session, "admin")
    response = client.post("/users", headers={**headers, "Content-Type": "application/json"}, content=b"{nope")
    assert_problem(response, 422, "validation_error")


def test_list_users_pages_without_gaps_or_repeats(session, client):
    _, headers = as_role(session)
    team = make_team(session)
    made = {str(make_user(session, team=team, display_name=f"Pager {i % 4}").id) for i in range(7)}
    items, pages = all_pages(client, "/users", headers, team_id=str(team.id))
    assert pages == 3
    ids = [item["id"] for item in items]
    assert len(ids) == 7 and set(ids) == made
    assert [i["display_name"] for i in items] == sorted(i["display_name"] for i in items)


def test_list_users_q_matches_name_or_email(session, client):
    _, headers = as_role(session)
    a = make_user(session, display_name="Wilhelmina Qorx")
    b = make_user(session, email="qorx.b@example.org")
    response = client.get("/users", headers=headers, params={"q": "QORX"})
    assert {i["id"] for i in response.json()["items"]} == {str(a.id), str(b.id)}


def test_include_inactive_is_admin_only(session, client):
    team = make_team(session)
    inactive = make_user(session, team=team, is_active=False)
    _, employee = as_role(session)
    _, admin = as_role(session, "admin")
    params = {"team_id": str(team.id), "include_inactive": "true"}
    assert_problem(client.get("/users", headers=employee, params=params), 403, "forbidden")
    assert client.get("/users", headers=employee, params={"team_id": str(team.id)}).json()["items"] == []
    assert [i["id"] for i in client.get("/users", headers=admin, params=params).json()["items"]] == [str(inactive.id)]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"cursor": "garbage!"}, {"team_id": "x"}])
def test_bad_list_parameters_are_422(session, client, params):
    _, headers = as_role(session)
    assert_problem(client.get("/users", headers=headers, params=params), 422, "validation_error")


def test_admin_updates_a_user_and_only_changes_are_audited(session, client):
    admin, headers = as_role(session, "admin")
    user = make_user(session, display_name="Before")
    response = client.patch(f"/users/{user.id}", headers={**headers, "X-Request-ID": "req-patch"},
                            json={"display_name": "After", "role": "employee"})
    assert response.status_code == 200 and response.json()["display_name"] == "After"
    (row,) = audit_rows(session, action="user.update")
    assert row.payload == {"before": {"display_name": "Before"}, "after": {"display_name": "After"}}
    assert (row.actor_id, row.request_id) == (admin.id, "req-patch")


def test_patch_user_that_changes_nothing_is_200_without_audit(session, client):
    _, headers = as_role(session, "admin")
    user = make_user(session)
    assert client.patch(f"/users/{user.id}", headers=headers, json={}).status_code == 200
    assert client.patch(f"/users/{user.id}", headers=headers, json={"role": "employee"}).status_code == 200
    assert audit_rows(session) == []


def test_patch_user_null_clears_team_but_not_name(session, client):
    _, headers = as_role(session, "admin")
    user = make_user(session, team=make_team(session))
    assert client.patch(f"/users/{user.id}", headers=headers, json={"team_id": None}).json()["team_id"] is None
    assert_problem(client.patch(f"/users/{user.id}", headers=headers, json={"display_name": None}), 422,
                   "validation_error")


@pytest.mark.parametrize(
    "body", [{"email": "new@example.org"}, {"created_at": NOW.isoformat()}, {"is_active": "maybe"}]
)
def test_patch_user_body_is_strict(session, client, body):
    _, headers = as_role(session, "admin")
    user = make_user(session)
    assert_problem(client.patch(f"/users/{user.id}", headers=headers, json=body), 422, "validation_error")
    assert audit_rows(session) == []


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
@pytest.mark.parametrize("own", [True, False])
def test_non_admins_cannot_patch_users_own_or_foreign(session, client, role, own):
    me, headers = as_role(session, role)
    target = me if own else make_user(session)
    assert_problem(client.patch(f"/users/{target.id}", headers=headers, json={"role": "admin"}), 403, "forbidden")
    assert audit_rows(session) == []


def test_deactivated_user_is_locked_out(session, client):
    _, admin = as_role(session, "admin")
    user, headers = as_role(session)
    assert client.patch(f"/users/{user.id}", headers=admin, json={"is_active": False}).status_code == 200
    assert_problem(client.get("/users/me", headers=headers), 401, "unauthenticated")


# --- tokens ---------------------------------------------------------------


def test_user_creates_own_token_shown_once(session, client):
    user, headers = as_role(session)
    response = client.post(f"/users/{user.id}/tokens", headers=headers,
                           json={"name": "ci", "expires_at": "2030-02-01T02:00:00+02:00"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["expires_at"] in ("2030-02-01T00:00:00Z", "2030-02-01T00:00:00+00:00")  # UTC on output
    assert set(body) == {"id", "user_id", "name", "created_at", "expires_at", "revoked_at", "token"}
    assert body["user_id"] == str(user.id) and body["revoked_at"] is None
    assert client.get("/users/me", headers=auth(body["token"])).json()["id"] == str(user.id)
    (row,) = audit_rows(session, action="token.create")
    assert row.entity_id == uuid.UUID(body["id"]) and body["token"] not in str(row.payload)


@pytest.mark.parametrize(
    ("role", "own", "status"),
    [("employee", True, 201), ("employee", False, 403), ("team_lead", False, 403), ("manager", False, 403),
     ("admin", True, 201), ("admin", False, 201)],
)
def test_token_creation_matrix(session, client, role, own, status):
    me, headers = as_role(session, role)
    target = me if own else make_user(session)
    response = client.post(f"/users/{target.id}/tokens", headers=headers, json={"name": "t"})
    assert response.status_code == status
    assert len(audit_rows(session, action="token.create")) == (1 if status == 201 else 0)


def test_token_for_unknown_user_is_404(session, client):
    _, headers = as_role(session, "admin")
    assert_problem(client.post(f"/users/{uuid.uuid4()}/tokens", headers=headers, json={"name": "t"}), 404,
                   "not_found")


@pytest.mark.parametrize(
    "body",
    [{"name": "t", "expires_at": "2031-01-01T00:00:00"},  # no offset
     {"name": "t", "expires_at": (NOW - timedelta(seconds=1)).isoformat()},  # past
     {"name": ""}, {}, {"name": "t", "token": "plt_chosen"}, {"name": "t", "user_id": str(uuid.uuid4())}],
)
def test_token_body_is_strict(session, client, body):
    user, headers = as_role(session)
    assert_problem(client.post(f"/users/{user.id}/tokens", headers=headers, json=body), 422, "validation_error")
    assert audit_rows(session) == []


def test_owner_revokes_token_204_and_repeat_is_204_without_audit(session, client):
    user, headers = as_role(session)
    victim = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    other_secret = make_token(session, user)
    response = client.delete(f"/tokens/{victim.id}", headers=auth(other_secret))
    assert response.status_code == 204 and response.content == b""
    assert_problem(client.get("/users/me", headers=headers), 401, "unauthenticated")
    assert client.delete(f"/tokens/{victim.id}", headers=auth(other_secret)).status_code == 204
    (row,) = audit_rows(session, action="token.revoke")
    assert (row.entity_id, row.actor_id) == (victim.id, user.id)


def test_a_token_may_revoke_itself(session, client):
    user, headers = as_role(session)
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert client.delete(f"/tokens/{token.id}", headers=headers).status_code == 204
    assert client.get("/users/me", headers=headers).status_code == 401


@pytest.mark.parametrize(("role", "status"), [("employee", 404), ("team_lead", 404), ("manager", 404), ("admin", 204)])
def test_revoking_someone_elses_token(session, client, role, status):
    owner = make_user(session)
    make_token(session, owner)
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id))
    _, headers = as_role(session, role)
    assert client.delete(f"/tokens/{token.id}", headers=headers).status_code == status
    assert len(audit_rows(session, action="token.revoke")) == (1 if status == 204 else 0)


def test_revoking_unknown_token_is_404(session, client):
    _, headers = as_role(session, "admin")
    assert_problem(client.delete(f"/tokens/{uuid.uuid4()}", headers=headers), 404, "not_found")


# --- teams ----------------------------------------------------------------


def test_admin_creates_and_reads_a_team(session, client):
    admin, headers = as_role(session, "admin")
    manager = make_user(session, role="manager")
    response = client.post("/teams", headers={**headers, "X-Request-ID": "req-team"},
                           json={"name": "Research", "manager_id": str(manager.id)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "manager_id", "created_at"}
    assert (body["name"], body["manager_id"]) == ("Research", str(manager.id))
    _, employee = as_role(session)
    assert client.get(f"/teams/{body['id']}", headers=employee).json() == body
    (row,) = audit_rows(session, action="team.create")
    assert (row.actor_id, row.request_id) == (admin.id, "req-team")


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_non_admins_cannot_create_or_update_teams(session, client, role):
    _, headers = as_role(session, role)
    team = make_team(session)
    assert_problem(client.post("/teams", headers=headers, json={"name": "X"}), 403, "forbidden")
    assert_problem(client.patch(f"/teams/{team.id}", headers=headers, json={"name": "X"}), 403, "forbidden")
    assert audit_rows(session) == []


def test_team_name_taken_in_any_case_is_409(session, client):
    _, headers = as_role(session, "admin")
    make_team(session, name="Legal")
    assert_problem(client.post("/teams", headers=headers, json={"name": "LEGAL"}), 409, "duplicate_name")
    other = make_team(session, name="Finance")
    assert_problem(client.patch(f"/teams/{other.id}", headers=headers, json={"name": "legal"}), 409,
                   "duplicate_name")
    assert audit_rows(session) == []


def test_team_manager_must_be_manager_or_admin(session, client):
    _, headers = as_role(session, "admin")
    employee = make_user(session)
    response = client.post("/teams", headers=headers, json={"name": "X", "manager_id": str(employee.id)})
    assert_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["loc"] == ["body", "manager_id"]


@pytest.mark.parametrize("body", [{"name": "X", "id": str(uuid.uuid4())}, {"name": "X", "members": []},
                                  {"name": " "}, {"manager_id": None}])
def test_create_team_body_is_strict(session, client, body):
    _, headers = as_role(session, "admin")
    assert_problem(client.post("/teams", headers=headers, json=body), 422, "validation_error")


def test_admin_updates_a_team_and_no_op_writes_nothing(session, client):
    _, headers = as_role(session, "admin")
    manager = make_user(session, role="admin")
    team = make_team(session, name="Before")
    response = client.patch(f"/teams/{team.id}", headers=headers, json={"name": "After", "manager_id": str(manager.id)})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["manager_id"]) == ("After", str(manager.id))
    assert client.patch(f"/teams/{team.id}", headers=headers, json={"name": "After"}).status_code == 200
    (row,) = audit_rows(session, action="team.update")
    assert row.payload["after"] == {"name": "After", "manager_id": str(manager.id)}
    assert_problem(client.patch(f"/teams/{team.id}", headers=headers, json={"name": None}), 422, "validation_error")


def test_unknown_team_is_404(session, client):
    _, headers = as_role(session, "admin")
    assert_problem(client.get(f"/teams/{uuid.uuid4()}", headers=headers), 404, "not_found")
    assert_problem(client.patch(f"/teams/{uuid.uuid4()}", headers=headers, json={"name": "x"}), 404, "not_found")


def test_list_teams_pages_without_gaps_or_repeats(session, client):
    _, headers = as_role(session)
    made = {str(make_team(session, name=f"Paged team {i}").id) for i in range(7)}
    items, _ = all_pages(client, "/teams", headers)
    ids = [i["id"] for i in items if i["id"] in made]
    assert len(ids) == 7 and set(ids) == made
    assert set(items[0]) == {"id", "name", "manager_id", "created_at"}


def test_people_paths_are_documented_in_openapi(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert (
        paths["/users"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/User")
    )
    assert "204" in paths["/tokens/{token_id}"]["delete"]["responses"]
    token_created = spec["components"]["schemas"]["TokenCreated"]["properties"]
    assert "token" in token_created
    assert set(spec["components"]["schemas"]["UserCreate"]["properties"]) == {
        "email", "display_name", "role", "team_id",
    }
