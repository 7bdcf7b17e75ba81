from tests.factories import auth, make_token, make_user


def test_healthz_needs_no_token(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unknown_path_is_problem_json(client):
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "req-42"}).headers["x-request-id"] == "req-42"
    assert len(client.get("/healthz").headers["x-request-id"]) == 36


def test_token_fixture_authenticates(session, client):
    user = make_user(session, role="admin")
    secret = make_token(session, user)
    from plaudit.services.auth import authenticate
    from tests.conftest import NOW

    assert authenticate(session, secret, now=NOW).id == user.id
    assert client.get("/healthz", headers=auth(secret)).status_code == 200
