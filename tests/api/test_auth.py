"""Bearer authentication: every failure is 401 `unauthenticated` with
`WWW-Authenticate: Bearer`, and secrets are kept only as SHA-256 digests."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.conftest import NOW
from tests.factories import auth, make_token, make_user


def assert_unauthenticated(response):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
     {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer plt_unknown"},
     {"Authorization": "Bearer " + "x" * 5000}],
)
def test_missing_or_unknown_token_is_401(client, headers):
    assert_unauthenticated(client.get("/users/me", headers=headers))


@pytest.mark.parametrize("path", ["/users", "/teams", "/audit-logs", "/users/me"])
def test_every_people_path_needs_a_token(client, path):
    assert_unauthenticated(client.get(path))


def test_unauthenticated_write_changes_nothing(session, client):
    response = client.post("/teams", json={"name": "Sneaky"})
    assert_unauthenticated(response)
    assert session.execute(text("SELECT count(*) FROM teams WHERE name = 'Sneaky'")).scalar() == 0
    assert session.execute(text("SELECT count(*) FROM audit_logs")).scalar() == 0


def test_scheme_is_case_insensitive(session, client):
    secret = make_token(session, make_user(session))
    assert client.get("/users/me", headers={"Authorization": f"bearer {secret}"}).status_code == 200


def test_expired_token_is_401_at_and_after_its_expiry(session, client, clock):
    user = make_user(session)
    secret = make_token(session, user, expires_at=NOW + timedelta(minutes=1))
    assert client.get("/users/me", headers=auth(secret)).status_code == 200
    clock.advance(timedelta(minutes=1))
    assert_unauthenticated(client.get("/users/me", headers=auth(secret)))


def test_revoked_token_is_401(session, client):
    secret = make_token(session, make_user(session), revoked_at=NOW - timedelta(seconds=1))
    assert_unauthenticated(client.get("/users/me", headers=auth(secret)))


def test_inactive_users_token_is_401_until_reactivated(session, client):
    user = make_user(session, is_active=False)
    secret = make_token(session, user)
    assert_unauthenticated(client.get("/users/me", headers=auth(secret)))
    user.is_active = True
    session.flush()
    assert client.get("/users/me", headers=auth(secret)).status_code == 200


def test_token_is_stored_only_as_its_sha256_digest(session, client):
    admin = make_user(session, role="admin")
    response = client.post(f"/users/{admin.id}/tokens", headers=auth(make_token(session, admin)),
                           json={"name": "audited"})
    assert response.status_code == 201
    secret = response.json()["token"]
    assert secret.startswith("plt_") and len(secret) >= 43  # 32 random bytes, base64url
    digest = hashlib.sha256(secret.encode()).digest()
    stored = session.execute(text("SELECT token_hash FROM api_tokens WHERE id = :id"),
                             {"id": response.json()["id"]}).scalar_one()
    assert bytes(stored) == digest
    # The secret appears in no stored row; its digest appears in no audit row.
    for table in ("api_tokens", "audit_logs"):
        dump = session.execute(text(f"SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t")).scalar_one()
        assert secret not in dump and secret[4:] not in dump
        if table == "audit_logs":
            assert digest.hex() not in dump and "token_hash" not in dump
