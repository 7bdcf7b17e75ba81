"""Authentication, request ids, problem+json shape (API.md Conventions)."""

import time
from datetime import timedelta

import httpx

from tests.blackbox.conftest import assert_problem, iso, now, uniq


def _assert_401(resp: httpx.Response) -> None:
    assert_problem(resp, 401, "unauthenticated")
    assert resp.headers.get("www-authenticate", "").split()[0].lower() == "bearer", resp.headers


def test_healthz_needs_no_token(px):
    r = px.anon().get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


def test_openapi_needs_no_token(px):
    assert px.anon().get("/openapi.json").status_code == 200
    assert px.anon().get("/docs").status_code == 200


def test_missing_token_is_401_with_bearer_challenge(px):
    for method, path in [("GET", "/users/me"), ("GET", "/cycles"), ("POST", "/teams"), ("GET", "/audit-logs")]:
        _assert_401(px.anon().request(method, path))


def test_malformed_authorization_header_is_401(px):
    for value in ["Bearer", "Basic abc", "token xyz", f"Bearer {px.admin_token} extra"]:
        _assert_401(px.http.get("/users/me", headers={"Authorization": value}))


def test_unknown_token_is_401(px):
    _assert_401(px.as_("definitely-not-a-token-" + uniq()).get("/users/me"))


def test_revoked_token_is_401_and_repeat_revoke_is_204(px):
    user = px.user()
    assert user.api.get("/users/me").status_code == 200
    tokens = px.admin.post(f"/users/{user.id}/tokens", json={"name": "second"}).json()
    r = px.admin.delete(f"/tokens/{tokens['id']}")
    assert r.status_code == 204 and r.content == b""
    _assert_401(px.as_(tokens["token"]).get("/users/me"))
    assert px.admin.delete(f"/tokens/{tokens['id']}").status_code == 204
    # The other token still works.
    assert user.api.get("/users/me").status_code == 200


def test_user_can_revoke_own_token(px):
    user = px.user()
    own = user.api.post(f"/users/{user.id}/tokens", json={"name": "mine"})
    assert own.status_code == 201, own.text
    assert user.api.delete(f"/tokens/{own.json()['id']}").status_code == 204
    _assert_401(px.as_(own.json()["token"]).get("/users/me"))


def test_inactive_user_token_is_401_and_stays_revoked(px):
    """API.md, Tokens: deactivating revokes all their tokens; reactivating does not bring them back."""
    user = px.user()
    assert px.admin.patch(f"/users/{user.id}", json={"is_active": False}).status_code == 200
    _assert_401(user.api.get("/users/me"))
    assert px.admin.patch(f"/users/{user.id}", json={"is_active": True}).status_code == 200
    _assert_401(user.api.get("/users/me"))


def test_expired_token_is_401(px):
    user = px.user()
    r = px.admin.post(f"/users/{user.id}/tokens",
                      json={"name": "short", "expires_at": iso(now() + timedelta(seconds=1.5))})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert px.as_(token).get("/users/me").status_code == 200
    time.sleep(1.7)
    _assert_401(px.as_(token).get("/users/me"))


def test_request_id_is_echoed_or_generated(px):
    rid = "bb-" + uniq()
    r = px.admin.get("/users/me", headers={"X-Request-ID": rid})
    assert r.headers.get("x-request-id") == rid
    r = px.admin.get("/users/me")
    assert r.headers.get("x-request-id")
    # also on errors
    r = px.anon().get("/users/me", headers={"X-Request-ID": rid})
    assert r.headers.get("x-request-id") == rid


def test_unknown_path_is_problem_json_404(px):
    r = px.admin.get("/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_malformed_json_body_is_422_not_500(px):
    r = px.admin.post("/teams", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 422, "validation_error")
    r = px.admin.post("/teams", content=b"[1,2]", headers={"Content-Type": "application/json"})
    assert_problem(r, 422, "validation_error")


def test_malformed_path_ids_are_not_500(px):
    for path in ["/users/not-a-uuid", "/cycles/123", "/nominations/xyz", "/teams/%00"]:
        r = px.admin.get(path)
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


API_PATHS = {
    ("get", "/healthz"), ("get", "/users/me"), ("get", "/users"), ("post", "/users"), ("get", "/users/{id}"),
    ("patch", "/users/{id}"), ("post", "/users/{id}/tokens"), ("delete", "/tokens/{id}"),
    ("get", "/users/{id}/awards"), ("get", "/teams"), ("post", "/teams"), ("get", "/teams/{id}"),
    ("patch", "/teams/{id}"), ("get", "/cycles"), ("post", "/cycles"), ("get", "/cycles/{id}"),
    ("patch", "/cycles/{id}"), ("delete", "/cycles/{id}"), ("post", "/cycles/{id}/publish"),
    ("post", "/cycles/{id}/finalize"), ("post", "/cycles/{id}/archive"), ("get", "/cycles/{id}/criteria"),
    ("post", "/cycles/{id}/criteria"), ("put", "/cycles/{id}/criteria"), ("patch", "/criteria/{id}"),
    ("delete", "/criteria/{id}"), ("get", "/cycles/{id}/nominations"), ("post", "/cycles/{id}/nominations"),
    ("get", "/nominations/{id}"), ("patch", "/nominations/{id}"), ("post", "/nominations/{id}/withdraw"),
    ("put", "/nominations/{id}/approval"), ("get", "/nominations/{id}/approvals"), ("get", "/cycles/{id}/preview"),
    ("post", "/cycles/{id}/preview"), ("get", "/cycles/{id}/results"), ("get", "/audit-logs"),
    ("post", "/cycles/{id}/close-nominations"), ("post", "/cycles/{id}/close-approvals"),
    ("get", "/me/approvals"), ("get", "/me/nominations"), ("get", "/users/{id}/tokens"),
    ("post", "/imports/people"), ("get", "/me/notifications"), ("post", "/me/notifications/read"),
    ("get", "/me/preferences"), ("patch", "/me/preferences"), ("get", "/notifications/outbox"),
}


def test_openapi_document_lists_exactly_the_api_paths(px):
    import re
    doc = px.anon().get("/openapi.json").json()
    found = set()
    for path, ops in doc["paths"].items():
        norm = re.sub(r"\{[^}]+\}", "{id}", path)
        for method in ops:
            if method in ("get", "post", "put", "patch", "delete"):
                found.add((method, norm))
    assert found == API_PATHS
