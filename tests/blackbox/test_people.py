"""Users, teams, tokens over HTTP (API.md paths and Objects)."""

from datetime import timedelta

from tests.blackbox.conftest import (
    PAGE_KEYS,
    TEAM_KEYS,
    TOKEN_KEYS,
    USER_KEYS,
    assert_problem,
    parse_utc,
    uniq,
)


def test_users_me_is_exactly_a_user_object(px):
    r = px.admin.get("/users/me")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == USER_KEYS
    assert body["role"] == "admin" and body["is_active"] is True
    parse_utc(body["created_at"])


def test_create_user_lowercases_email_and_returns_user(px):
    tag = uniq()
    team = px.team()
    r = px.admin.post("/users", json={"email": f"Mixed.{tag}@Example.ORG", "display_name": "Mixed Case",
                                      "role": "team_lead", "team_id": team["id"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == USER_KEYS
    assert body["email"] == f"mixed.{tag}@example.org"
    assert body["role"] == "team_lead" and body["team_id"] == team["id"] and body["is_active"] is True
    got = px.admin.get(f"/users/{body['id']}")
    assert got.status_code == 200 and got.json() == body
    # email uniqueness is case-insensitive
    dup = px.admin.post("/users", json={"email": f"MIXED.{tag}@example.org", "display_name": "Other",
                                        "role": "employee"})
    assert_problem(dup, 409, "duplicate_name")


def test_any_user_may_read_users(px):
    a, b = px.user(), px.user()
    r = a.api.get(f"/users/{b.id}")
    assert r.status_code == 200 and set(r.json()) == USER_KEYS


def test_unknown_user_is_404(px):
    assert_problem(px.admin.get("/users/00000000-0000-0000-0000-000000000000"), 404, "not_found")


def test_employee_cannot_create_or_patch_users(px):
    emp = px.user()
    r = emp.api.post("/users", json={"email": f"x{uniq()}@example.org", "display_name": "X", "role": "employee"})
    assert_problem(r, 403, "forbidden")
    assert_problem(emp.api.patch(f"/users/{emp.id}", json={"role": "admin"}), 403, "forbidden")
    assert px.admin.get(f"/users/{emp.id}").json()["role"] == "employee"


def test_user_body_is_strict(px):
    base = {"email": f"s{uniq()}@example.org", "display_name": "Strict", "role": "employee"}
    for extra in [
        {"is_admin": True},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"created_at": "2030-01-01T00:00:00Z"},
    ]:
        assert_problem(px.admin.post("/users", json={**base, **extra}), 422, "validation_error")
    assert_problem(px.admin.post("/users", json={**base, "role": "overlord"}), 422, "validation_error")
    assert_problem(px.admin.post("/users", json={**base, "display_name": ""}), 422, "validation_error")
    assert_problem(px.admin.post("/users", json={**base, "display_name": "x" * 201}), 422, "validation_error")
    user = px.user()
    assert_problem(px.admin.patch(f"/users/{user.id}", json={"email": "new@example.org"}), 422, "validation_error")
    assert_problem(px.admin.patch(f"/users/{user.id}", json={"created_at": "2030-01-01T00:00:00Z"}), 422,
                   "validation_error")


def test_patch_user_changes_only_given_fields(px):
    user = px.user()
    team = px.team()
    r = px.admin.patch(f"/users/{user.id}", json={"display_name": "Renamed", "team_id": team["id"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == USER_KEYS
    assert body["display_name"] == "Renamed" and body["team_id"] == team["id"]
    assert body["email"] == user.user["email"] and body["role"] == "employee"


def test_users_list_paging_and_query(px):
    tag = uniq()
    ids = set()
    for i in range(5):
        r = px.admin.post("/users", json={"email": f"page{i}.{tag}@example.org", "display_name": f"Pager {tag} {i}",
                                          "role": "employee"})
        ids.add(r.json()["id"])
    first = px.admin.get("/users", params={"q": tag, "limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == PAGE_KEYS and len(body["items"]) == 2 and isinstance(body["next_cursor"], str)
    assert all(set(u) == USER_KEYS for u in body["items"])
    items = px.all_pages(px.admin, "/users", q=tag, limit=2)
    assert [u["id"] for u in items if u["id"] in ids] and {u["id"] for u in items} == ids
    assert len(items) == 5
    # q matches email too
    assert len(px.all_pages(px.admin, "/users", q=f"page3.{tag}")) == 1


def test_list_limit_bounds_and_bad_cursor(px):
    for limit in [0, 201, -1, "abc"]:
        assert_problem(px.admin.get("/users", params={"limit": limit}), 422, "validation_error")
    assert px.admin.get("/users", params={"limit": 200}).status_code == 200
    assert px.admin.get("/users", params={"limit": 1}).status_code == 200
    r = px.admin.get("/users", params={"cursor": "garbage!!"})
    assert_problem(r, 422, "validation_error")


def test_users_list_team_filter_and_inactive(px):
    team = px.team()
    a = px.user(team_id=team["id"])
    b = px.user(team_id=team["id"])
    px.user()
    assert px.admin.patch(f"/users/{b.id}", json={"is_active": False}).status_code == 200
    listed = {u["id"] for u in px.all_pages(px.admin, "/users", team_id=team["id"])}
    assert listed == {a.id}
    listed = {u["id"] for u in px.all_pages(px.admin, "/users", team_id=team["id"], include_inactive="true")}
    assert listed == {a.id, b.id}
    # non-admins never see inactive users in the list
    r = a.api.get("/users", params={"team_id": team["id"], "include_inactive": "true"})
    if r.status_code == 200:
        assert {u["id"] for u in r.json()["items"]} == {a.id}
    else:
        assert_problem(r, 403, "forbidden")


def test_team_create_get_patch_and_unique_name(px):
    manager = px.user("manager")
    name = f"Team {uniq()}"
    r = px.admin.post("/teams", json={"name": name, "manager_id": manager.id})
    assert r.status_code == 201, r.text
    team = r.json()
    assert set(team) == TEAM_KEYS and team["name"] == name and team["manager_id"] == manager.id
    parse_utc(team["created_at"])
    assert manager.api.get(f"/teams/{team['id']}").json() == team
    assert_problem(px.admin.post("/teams", json={"name": name.upper()}), 409, "duplicate_name")
    other = px.team()
    assert_problem(px.admin.patch(f"/teams/{other['id']}", json={"name": name.lower()}), 409, "duplicate_name")
    r = px.admin.patch(f"/teams/{team['id']}", json={"manager_id": None})
    assert r.status_code == 200 and r.json()["manager_id"] is None
    assert_problem(px.admin.post("/teams", json={"name": f"T {uniq()}", "id": team["id"]}), 422, "validation_error")
    assert_problem(px.admin.post("/teams", json={"name": ""}), 422, "validation_error")
    assert_problem(px.admin.get("/teams/00000000-0000-0000-0000-000000000000"), 404, "not_found")


def test_team_manager_must_be_manager_or_admin(px):
    emp = px.user()
    r = px.admin.post("/teams", json={"name": f"T {uniq()}", "manager_id": emp.id})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_employee_cannot_create_team_but_can_list(px):
    emp = px.user()
    assert_problem(emp.api.post("/teams", json={"name": f"T {uniq()}"}), 403, "forbidden")
    r = emp.api.get("/teams", params={"limit": 5})
    assert r.status_code == 200 and set(r.json()) == PAGE_KEYS
    assert all(set(t) == TEAM_KEYS for t in r.json()["items"])


def test_token_creation_shape_and_permissions(px):
    user, other = px.user(), px.user()
    r = user.api.post(f"/users/{user.id}/tokens", json={"name": "laptop"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == TOKEN_KEYS | {"token"}
    assert body["user_id"] == user.id and body["name"] == "laptop"
    # API.md, Tokens: created without expires_at, a token expires after 90 days.
    lifetime = parse_utc(body["expires_at"]) - parse_utc(body["created_at"])
    assert abs(lifetime - timedelta(days=90)) < timedelta(minutes=1)
    assert body["revoked_at"] is None
    assert len(body["token"]) >= 32
    assert px.as_(body["token"]).get("/users/me").json()["id"] == user.id
    assert_problem(other.api.post(f"/users/{user.id}/tokens", json={"name": "steal"}), 403, "forbidden")
    r = other.api.delete(f"/tokens/{body['id']}")
    assert r.status_code in (403, 404), r.text
    assert px.as_(body["token"]).get("/users/me").status_code == 200
    assert_problem(user.api.post(f"/users/{user.id}/tokens", json={"name": "x", "token": "mine"}), 422,
                   "validation_error")
    assert_problem(user.api.post(f"/users/{user.id}/tokens", json={"name": "x", "expires_at": "2031-01-01T00:00:00"}),
                   422, "validation_error")
