"""The HTTP platform, through the real app: problem+json errors, strict bodies,
query validation, authentication, request ids, the transaction boundary, and
"no input, however malformed, produces a 500" (API.md)."""

import json
import re
import typing
import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from types import UnionType

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from starlette.routing import Mount

from plaudit.api.app import create_app
from plaudit.api.deps import CurrentUser, SessionDep
from plaudit.errors import CycleState
from plaudit.models import AuditLog, Team, User
from plaudit.paging import encode_cursor
from plaudit.schemas.common import StrictBody
from plaudit.services import audit
from tests.conftest import NOW
from tests.factories import (
    auth,
    make_approval,
    make_criterion,
    make_cycle,
    make_nomination,
    make_team,
    make_token,
    make_user,
)
from tests.helpers import audit_count

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status: int, code: str) -> dict:
    """An RFC 9457 problem: the right content type, exactly the agreed keys
    (plus `errors` for validation_error), and the status repeated in the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    expected = PROBLEM_KEYS | ({"errors"} if code == "validation_error" else set())
    assert set(body) == expected, body
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] and isinstance(body["type"], str)
    assert body["title"] and isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    if code == "validation_error":
        assert isinstance(body["errors"], list) and body["errors"]
        for error in body["errors"]:
            assert set(error) == {"loc", "msg"} and isinstance(error["loc"], list)
    return body


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role="admin")


@pytest.fixture
def admin_headers(session: Session, admin: User) -> dict[str, str]:
    return auth(make_token(session, admin))


def api_routes(app) -> list[APIRoute]:
    """Every endpoint of the API, through included routers (newer FastAPI
    keeps them as wrappers holding `original_router`; this app uses no prefixes).
    Not the web app mounted at /app, nor what the schema leaves out (the
    docs pages, the redirect from / to the web app): those are pages (tests/web)."""
    found: list[APIRoute] = []

    def walk(routes) -> None:
        for route in routes:
            if isinstance(route, Mount):
                continue
            if isinstance(route, APIRoute):
                if route.include_in_schema:
                    found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "routes"):
                walk(route.routes)

    walk(app.routes)
    return found


def test_route_discovery_sees_the_routers(app):
    paths = {r.path for r in api_routes(app)}
    assert {"/healthz", "/users/me", "/users/{user_id}", "/teams"} <= paths


# --- errors are problem+json ---------------------------------------------------


def test_unknown_path_is_404_problem(client):
    assert_problem(client.get("/no/such/path"), 404, "not_found")
    assert_problem(client.post("/no/such/path", json={}), 404, "not_found")


def test_wrong_method_is_405_problem_with_allow_header(client, admin_headers):
    response = client.delete("/healthz")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert_problem(client.put("/users/me", headers=admin_headers, json={}), 405, "method_not_allowed")


def test_malformed_json_body_is_a_validation_error(session, client, admin_headers):
    before = audit_count(session)
    for raw in (b"{bad", b'{"email": "a@b.org",}', b"\xff\xfe", b"", b"[]", b"null", b'"text"'):
        response = client.post("/teams", headers={**admin_headers, "content-type": "application/json"}, content=raw)
        assert_problem(response, 422, "validation_error")
    assert audit_count(session) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
def test_a_body_that_is_not_json_is_a_validation_error(client, admin_headers, content_type):
    headers = dict(admin_headers)
    if content_type:
        headers["content-type"] = content_type
    response = client.post("/teams", headers=headers, content=b"name=Platform")
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "extra",
    [{"colour": "blue"}, {"id": "00000000-0000-0000-0000-000000000001"}, {"created_at": "2030-01-01T00:00:00Z"}],
    ids=["unknown-field", "server-owned-id", "server-owned-created_at"],
)
def test_unknown_or_server_owned_body_field_is_refused_not_dropped(session, client, admin_headers, extra):
    before = audit_count(session)
    response = client.post("/teams", headers=admin_headers, json={"name": f"Team {uuid.uuid4().hex[:6]}", **extra})
    body = assert_problem(response, 422, "validation_error")
    assert any(e["loc"][-1] == next(iter(extra)) for e in body["errors"])
    assert audit_count(session) == before
    assert session.scalar(select(func.count()).select_from(Team).where(Team.name.like("Team %"))) == 0


def test_server_owned_user_fields_are_refused(client, admin_headers):
    for field, value in (("is_active", False), ("id", str(uuid.uuid4())), ("token_hash", "00")):
        body = {"email": "new@example.org", "display_name": "New", "role": "employee", field: value}
        assert_problem(client.post("/users", headers=admin_headers, json=body), 422, "validation_error")


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "me2"])
def test_bad_uuid_in_path_is_a_validation_error(client, admin_headers, bad):
    body = assert_problem(client.get(f"/users/{bad}", headers=admin_headers), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["path", "user_id"]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", ["query", "limit"]),
        ("limit=201", ["query", "limit"]),
        ("limit=-5", ["query", "limit"]),
        ("limit=abc", ["query", "limit"]),
        ("limit=1.5", ["query", "limit"]),
        ("limit=99999999999999999999999999", ["query", "limit"]),
        ("cursor=garbage!", ["query", "cursor"]),
        ("cursor=" + "A" * 1001, ["query", "cursor"]),
        ("cursor=" + encode_cursor(["x", "y", "z"]), ["query", "cursor"]),
        ("cursor=" + encode_cursor([5, uuid.uuid4()]), ["query", "cursor"]),
        ("cursor=" + encode_cursor([{"not": "taggable"}.__class__.__name__, "not-a-uuid"]), ["query", "cursor"]),
        ("team_id=nope", ["query", "team_id"]),
        ("include_inactive=maybe", ["query", "include_inactive"]),
    ],
)
def test_bad_query_values_are_validation_errors(client, admin_headers, query, loc):
    body = assert_problem(client.get(f"/users?{query}", headers=admin_headers), 422, "validation_error")
    assert body["errors"][0]["loc"] == loc


def test_limit_bounds_are_accepted(client, admin_headers):
    for limit in (1, 200):
        response = client.get(f"/users?limit={limit}", headers=admin_headers)
        assert response.status_code == 200, response.text
    # An empty cursor means the first page.
    assert client.get("/users?cursor=", headers=admin_headers).status_code == 200


def test_paging_through_the_api_follows_next_cursor(session, client, admin_headers):
    for i in range(5):
        make_user(session, display_name=f"Pager {i}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "q": "Pager"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/users", headers=admin_headers, params=params).json()
        seen += [u["display_name"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Pager {i}" for i in range(5)]


# --- authentication -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer plt_unknown"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token plt_x"},
        {"Authorization": "Bearer " + "x" * 10000},
        {"Authorization": "Bearer \u00e9\u00e8".encode("latin-1")},
    ],
    ids=["none", "empty", "scheme-only", "scheme-space", "unknown", "basic", "other-scheme", "huge", "latin1"],
)
def test_missing_or_invalid_token_is_401_with_bearer_challenge(client, headers):
    response = client.get("/users/me", headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_expired_and_inactive_tokens_are_401(session, client):
    active = make_user(session)
    revoked = make_token(session, active, revoked_at=NOW)
    expired = make_token(session, active, expires_at=NOW)  # expiry is exclusive: expired at NOW
    inactive = make_token(session, make_user(session, is_active=False))
    for secret in (revoked, expired, inactive):
        response = client.get("/users/me", headers=auth(secret))
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"


def test_bearer_scheme_is_case_insensitive(session, client, admin):
    secret = make_token(session, admin)
    assert client.get("/users/me", headers={"Authorization": f"bearer {secret}"}).status_code == 200


def test_public_paths_need_no_token(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_every_other_path_needs_a_token(app, client):
    """Walk the app's own routes: without a token each is a 401 (or a 422 when
    the path itself is malformed, which is checked before authentication)."""
    for route in api_routes(app):
        if route.path in ("/healthz",):
            continue
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", str(uuid.uuid4()))
        for method in route.methods:
            response = client.request(method, path, json={})
            assert response.status_code in (401, 422), (method, path, response.text)
            if response.status_code == 401:
                assert_problem(response, 401, "unauthenticated")


# --- request ids ------------------------------------------------------------------


def test_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "client-7f3a.42:x"})
    assert response.headers["x-request-id"] == "client-7f3a.42:x"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", "é"])
def test_an_unusable_request_id_is_replaced_by_a_fresh_one(client, given):
    response = client.get("/healthz", headers={"X-Request-ID": given.encode("utf-8")})
    made = response.headers["x-request-id"]
    assert made != given and uuid.UUID(made)


def test_request_id_is_on_errors_too(client):
    response = client.get("/no/such/path", headers={"X-Request-ID": "err-1"})
    assert response.headers["x-request-id"] == "err-1"
    response = client.get("/users/me")
    assert uuid.UUID(response.headers["x-request-id"])


def test_request_id_is_stored_on_audit_rows(session, client, admin_headers):
    response = client.post("/teams", headers={**admin_headers, "X-Request-ID": "req-audit-1"}, json={"name": "Audited"})
    assert response.status_code == 201, response.text
    row = session.scalars(select(AuditLog).where(AuditLog.entity_id == uuid.UUID(response.json()["id"]))).one()
    assert (row.action, row.request_id) == ("team.create", "req-audit-1")


def test_a_generated_request_id_is_stored_on_audit_rows(session, client, admin_headers):
    response = client.post("/teams", headers=admin_headers, json={"name": "Audited too"})
    assert response.status_code == 201, response.text
    row = session.scalars(select(AuditLog).where(AuditLog.entity_id == uuid.UUID(response.json()["id"]))).one()
    assert row.request_id == response.headers["x-request-id"]


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


# --- unexpected errors --------------------------------------------------------------


@pytest.fixture
def throwaway(session_factory, clock):
    """A fresh app with extra routes that misbehave on purpose."""
    app = create_app(session_factory=session_factory, clock=clock)

    @app.get("/_test/crash")
    def crash() -> dict:
        raise RuntimeError("secret detail: password=hunter2 SELECT * FROM users")

    @app.get("/_test/sql-crash")
    def sql_crash(session: SessionDep) -> dict:
        session.execute(text("SELECT 1 / 0 AS boom_column"))
        return {}

    @app.get("/_test/huge-int")
    def huge_int(session: SessionDep) -> dict:
        session.execute(text("SELECT CAST(:n AS integer)"), {"n": 10**40})
        return {}

    class Body(StrictBody):
        name: str
        tags: list[str] = []

    @app.post("/_test/echo")
    def echo(body: Body, session: SessionDep) -> dict:
        return {"name": session.execute(text("SELECT :n"), {"n": body.name}).scalar()}

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", ["/_test/crash", "/_test/sql-crash"])
def test_an_unexpected_exception_is_a_500_problem_that_leaks_nothing(throwaway, path):
    response = throwaway.get(path, headers={"X-Request-ID": "crash-1"})
    body = assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "crash-1"
    for leak in ("Traceback", "hunter2", "SELECT", "boom_column", "RuntimeError", "psycopg", "sqlalchemy", ".py"):
        assert leak not in response.text, leak
    assert body["detail"] == "an unexpected error occurred; it has been logged"


def test_a_number_the_database_cannot_store_is_a_422_not_a_500(throwaway):
    assert_problem(throwaway.get("/_test/huge-int"), 422, "validation_error")


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "a\\u0000b"}', b'{"name": "\\ud800"}', b'{"name": "ok", "tags": ["fine", "nul\\u0000"]}',
     b'{"name": "ok", "\\u0000": 1}'],
    ids=["nul", "lone-surrogate", "nested-nul", "nul-in-key"],
)
def test_text_postgresql_cannot_store_is_a_422(throwaway, raw):
    response = throwaway.post("/_test/echo", content=raw, headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation_error")


def test_ordinary_unicode_text_passes(throwaway):
    response = throwaway.post("/_test/echo", json={"name": "Zoë 🎉 \u200b 日本"})
    assert response.json() == {"name": "Zoë 🎉 \u200b 日本"}


@pytest.mark.parametrize("url", ["/users?q=a%00b", "/users/%00", "/users?cursor=%00", "/teams?x=%00"])
def test_a_nul_in_the_url_is_a_422(client, admin_headers, url):
    assert_problem(client.get(url, headers=admin_headers), 422, "validation_error")


def test_nul_in_a_real_body_is_refused_and_nothing_is_written(session, client, admin_headers):
    before = audit_count(session)
    assert_problem(client.post("/teams", headers=admin_headers, json={"name": "a\x00b"}), 422, "validation_error")
    assert_problem(
        client.post("/users", headers=admin_headers, json={"email": "nul@example.org", "display_name": "N\x00",
                                                          "role": "employee"}),
        422, "validation_error",
    )
    assert audit_count(session) == before


def test_health_is_503_when_the_database_is_unreachable(clock):
    from plaudit.db.session import make_engine

    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    try:
        with TestClient(create_app(engine=dead, clock=clock), raise_server_exceptions=False) as c:
            response = c.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "error", "database": "unreachable"}
    finally:
        dead.dispose()


# --- the transaction boundary (real commits) ----------------------------------------


class _VisibilityProbe:
    """ASGI wrapper: at the moment the response starts, looks at the database
    from ANOTHER connection and records what it sees."""

    def __init__(self, app, engine: Engine, name: str) -> None:
        self.app, self.engine, self.name = app, engine, name
        self.seen_at_response_start: dict[str, int] | None = None

    async def __call__(self, scope, receive, send):
        async def probing_send(message):
            if message["type"] == "http.response.start":
                with self.engine.connect() as conn:
                    self.seen_at_response_start = {
                        "teams": conn.execute(text("SELECT count(*) FROM teams WHERE name = :n"),
                                              {"n": self.name}).scalar(),
                        "audit": conn.execute(text("SELECT count(*) FROM audit_logs WHERE action = 'team.create' "
                                                   "AND payload->'after'->>'name' = :n"), {"n": self.name}).scalar(),
                    }
            await send(message)

        await self.app(scope, receive, probing_send)


def _committed_admin(engine: Engine) -> str:
    with Session(engine) as s:
        secret = make_token(s, make_user(s, role="admin"))
        s.commit()
    return secret


def test_a_success_is_committed_before_the_response_is_sent(committed_db: Engine, clock):
    secret = _committed_admin(committed_db)
    probe = _VisibilityProbe(create_app(engine=committed_db, clock=clock), committed_db, "Committed Team")
    with TestClient(probe, raise_server_exceptions=False) as c:
        response = c.post("/teams", headers=auth(secret), json={"name": "Committed Team"})
    assert response.status_code == 201, response.text
    # The team AND its audit row were durable before the client saw the 201.
    assert probe.seen_at_response_start == {"teams": 1, "audit": 1}


def test_a_refused_request_commits_nothing(committed_db: Engine, clock):
    """A route that writes, then raises a domain error: the write and its
    audit row roll back together."""
    secret = _committed_admin(committed_db)
    app = create_app(engine=committed_db, clock=clock)

    @app.post("/_test/write-then-refuse")
    def write_then_refuse(session: SessionDep, actor: CurrentUser) -> dict:
        team = Team(name="Doomed Team")
        session.add(team)
        session.flush()
        audit.record(session, actor_id=actor.id, action="team.create", entity_type="team", entity_id=team.id,
                     after={"name": team.name})
        raise CycleState("refused after writing")

    probe = _VisibilityProbe(app, committed_db, "Doomed Team")
    with TestClient(probe, raise_server_exceptions=False) as c:
        response = c.post("/_test/write-then-refuse", headers=auth(secret))
    assert_problem(response, 409, "cycle_state")
    assert probe.seen_at_response_start == {"teams": 0, "audit": 0}
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM teams WHERE name = 'Doomed Team'")).scalar() == 0


def test_a_crash_commits_nothing(committed_db: Engine, clock):
    secret = _committed_admin(committed_db)
    app = create_app(engine=committed_db, clock=clock)

    @app.post("/_test/write-then-crash")
    def write_then_crash(session: SessionDep, actor: CurrentUser) -> dict:
        session.add(Team(name="Crashed Team"))
        session.flush()
        raise RuntimeError("bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        assert_problem(c.post("/_test/write-then-crash", headers=auth(secret)), 500, "internal_error")
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM teams WHERE name = 'Crashed Team'")).scalar() == 0


# --- fuzz: malformed input never yields a 500 -----------------------------------------

# Kept short on purpose (every value is tried on every body field of every
# route): the types of mistake, not every instance of each.
BAD_VALUES = [None, 10**40, "", "x" * 20000, "nul\x00byte", "\ud800", [], {}, 1.5, "2030-01-01T00:00:00",
              "9999-12-31T23:59:59-23:59", "1e999999"]
BAD_RAW_BODIES = [b"", b"{", b"[]", b"null", b"[" * 2000 + b"]" * 2000, b"\xff", b'{"x": 1e999}']
BAD_QUERIES = [
    "limit=0", "limit=x", "cursor=%%%", "cursor=" + encode_cursor(["a"]), "status=bogus",
    "include_archived=perhaps", "since=yesterday", "since=2030-01-01T00:00:00", "until=0001-01-01T00:00:00%2B23:59",
    "team_id=1", "nominee_id=x",
    "format=xml", "q=" + "x" * 5000, "entity_id=zz",
]


def _plausible(annotation, name: str, ids: dict[str, str]):
    """A value of roughly the right type for a body field, so that one bad
    field at a time reaches deeper than the first schema error."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _plausible(typing.get_args(annotation)[0], name, ids)
    if origin in (typing.Union, UnionType):
        return _plausible(next(a for a in typing.get_args(annotation) if a is not type(None)), name, ids)
    if origin is list:
        return [_plausible(typing.get_args(annotation)[0], name, ids)]
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return {f: _plausible(i.annotation, f, ids) for f, i in annotation.model_fields.items()}
        if issubclass(annotation, Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, int):
            return 1
        if issubclass(annotation, Decimal):
            return "0.5"
        if issubclass(annotation, datetime):
            return NOW.isoformat()
        if issubclass(annotation, uuid.UUID):
            return ids.get(name, ids["user_id"])
    if "email" in name:
        return f"fuzz-{uuid.uuid4().hex[:6]}@example.org"
    return "A plausible piece of text for this field."


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    hints = typing.get_type_hints(route.endpoint, include_extras=True)
    for hint in hints.values():
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        if isinstance(base, type) and issubclass(base, StrictBody):
            return base
    return None


@pytest.fixture
def fuzz_world(session: Session) -> dict[str, str]:
    manager = make_user(session, role="manager")
    team = make_team(session, manager=manager)
    employee = make_user(session, team=team)
    nominator = make_user(session, team=team)
    cycle = make_cycle(session)
    criterion = make_criterion(session, cycle)
    nomination = make_nomination(session, cycle, nominator, employee)
    make_approval(session, nomination, manager, ratings={criterion: 3})
    token_owner = make_user(session)
    make_token(session, token_owner)
    from plaudit.models import ApiToken

    token_id = session.scalars(select(ApiToken.id).where(ApiToken.user_id == token_owner.id)).one()
    return {
        "user_id": str(employee.id), "nominee_id": str(employee.id), "manager_id": str(manager.id),
        "team_id": str(team.id), "cycle_id": str(cycle.id), "criterion_id": str(criterion.id),
        "nomination_id": str(nomination.id), "token_id": str(token_id),
    }


def _requests(app, ids: dict[str, str]):
    """(method, url, raw body or None) for every route, mangled every way we know."""
    for route in api_routes(app):
        names = list(route.param_convertors)
        good_path = route.path
        for name in names:
            good_path = good_path.replace("{" + name + "}", ids.get(name, str(uuid.uuid4())))
        for method in sorted(route.methods):
            # Malformed path parameters.
            for name in names:
                for bad in ("not-a-uuid", str(uuid.uuid4())):
                    yield method, good_path.replace(ids.get(name, "\0"), bad) if name in ids else good_path, None
            # Malformed query strings (lists and reads are where queries matter).
            for query in BAD_QUERIES if method == "GET" else BAD_QUERIES[:2]:
                yield method, f"{good_path}?{query}", None
            if method not in ("POST", "PUT", "PATCH"):
                continue
            for raw in BAD_RAW_BODIES:
                yield method, good_path, raw
            model = _body_model(route)
            if model is None:
                continue
            plausible = _plausible(model, "", ids)
            yield method, good_path, json.dumps(plausible).encode()
            for field in model.model_fields:
                for bad in BAD_VALUES:
                    yield method, good_path, json.dumps({**plausible, field: bad}).encode()
            # Nested lists of models (criteria items, ratings): mangle inside them too.
            for field, value in plausible.items():
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    for inner in value[0]:
                        for bad in BAD_VALUES[:6]:
                            yield (method, good_path,
                                   json.dumps({**plausible, field: [{**value[0], inner: bad}]}).encode())


ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _times_not_in_utc(value) -> list[str]:
    """Every time (a `*_at` field) in a JSON document that is not UTC."""
    if isinstance(value, dict):
        found = [
            v for k, v in value.items()
            if k.endswith("_at") and isinstance(v, str) and not (ISO_TIME.match(v) and v.endswith(("Z", "+00:00")))
        ]
        return found + [t for v in value.values() for t in _times_not_in_utc(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times_not_in_utc(v)]
    return []


def test_malformed_input_never_yields_a_500(session, app, client, fuzz_world, admin_headers):
    """...and whatever succeeds answers with times in UTC (API.md "Times")."""
    failures = []
    count = 0
    for method, url, raw in _requests(app, fuzz_world):
        headers = dict(admin_headers)
        if raw is not None:
            headers["content-type"] = "application/json"
        response = client.request(method, url, content=raw, headers=headers)
        count += 1
        if response.status_code < 300 and response.headers.get("content-type") == "application/json":
            if local := _times_not_in_utc(response.json()):
                failures.append((method, url, (raw or b"")[:200], f"times not in UTC: {local[:3]}"))
        if response.status_code >= 500:
            failures.append((method, url, (raw or b"")[:200], response.status_code))
        elif response.status_code >= 400 and response.headers.get("content-type") != "application/problem+json":
            failures.append((method, url, (raw or b"")[:200], "not problem+json"))
    # The same reads as an ordinary employee: other visibility paths, same rule.
    employee_headers = auth(make_token(session, make_user(session)))
    for method, url, _raw in _requests(app, fuzz_world):
        if method != "GET":
            continue
        response = client.request(method, url, headers=employee_headers)
        count += 1
        if response.status_code >= 500:
            failures.append(("employee", method, url, response.status_code))
    assert count > 500
    assert failures == [], f"{len(failures)} of {count} requests failed:\n" + "\n".join(map(str, failures[:40]))


# --- oversized bodies -------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_read(session, client, admin_headers):
    from plaudit.api.middleware import MAX_BODY_BYTES

    before = audit_count(session)
    big = json.dumps({"name": "x" * (MAX_BODY_BYTES + 10)}).encode()
    response = client.post("/teams", headers={**admin_headers, "content-type": "application/json"}, content=big)
    assert "larger than" in assert_problem(response, 422, "validation_error")["detail"]
    assert audit_count(session) == before


def test_a_streamed_body_over_the_limit_is_refused(session, client, admin_headers):
    from plaudit.api.middleware import MAX_BODY_BYTES

    def chunks():
        yield b'{"name": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    before = audit_count(session)
    response = client.post("/teams", headers={**admin_headers, "content-type": "application/json"}, content=chunks())
    assert "larger than" in assert_problem(response, 422, "validation_error")["detail"]
    assert audit_count(session) == before


def test_a_body_under_the_limit_is_read(client, admin_headers):
    response = client.post("/teams", headers=admin_headers, json={"name": "Small", "padding": "x" * 500_000})
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "padding"]  # refused by the schema, not by size


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_out_of_range_in_utc_is_a_422(session, client, admin, admin_headers, when):
    before = audit_count(session)
    response = client.post(f"/users/{admin.id}/tokens", headers=admin_headers, json={"name": "far", "expires_at": when})
    assert_problem(response, 422, "validation_error")
    assert audit_count(session) == before


# --- the OpenAPI document tells the truth about errors -------------------------------------


def test_openapi_documents_errors_as_problem_json_and_bearer_auth(app, client):
    spec = client.get("/openapi.json").json()
    text_ = json.dumps(spec)
    assert "HTTPValidationError" not in text_
    problem_schema = spec["components"]["schemas"]["Problem"]
    assert set(problem_schema["required"]) == PROBLEM_KEYS
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "A personal access token."
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
            if path == "/healthz":
                assert "security" not in operation
                assert "503" in operation["responses"]
            else:
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
    # Every route of the app is documented.
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    served = {(m, r.path) for r in api_routes(app) if r.include_in_schema for m in r.methods}
    assert served == documented


def test_lists_default_to_50_items(session, client, admin_headers):
    for i in range(55):
        make_user(session, display_name=f"Default {i:02d}")
    page = client.get("/users", headers=admin_headers, params={"q": "Default"}).json()
    assert len(page["items"]) == 50 and page["next_cursor"]
    rest = client.get("/users", headers=admin_headers, params={"q": "Default", "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 5 and rest["next_cursor"] is None


# --- the contract's paths, exactly ----------------------------------------------------------

# API.md, "Paths": method and path of every row, verbatim.
API_MD_PATHS = """
GET /healthz
GET /users/me
GET /users
POST /users
GET /users/{id}
PATCH /users/{id}
POST /users/{id}/tokens
DELETE /tokens/{id}
GET /users/{id}/awards
GET /teams
POST /teams
GET /teams/{id}
PATCH /teams/{id}
GET /cycles
POST /cycles
GET /cycles/{id}
PATCH /cycles/{id}
DELETE /cycles/{id}
POST /cycles/{id}/publish
POST /cycles/{id}/finalize
POST /cycles/{id}/archive
GET /cycles/{id}/criteria
POST /cycles/{id}/criteria
PUT /cycles/{id}/criteria
PATCH /criteria/{id}
DELETE /criteria/{id}
GET /cycles/{id}/nominations
POST /cycles/{id}/nominations
GET /nominations/{id}
PATCH /nominations/{id}
POST /nominations/{id}/withdraw
PUT /nominations/{id}/approval
GET /nominations/{id}/approvals
GET /cycles/{id}/preview
POST /cycles/{id}/preview
GET /cycles/{id}/results
GET /audit-logs
POST /cycles/{id}/close-nominations
POST /cycles/{id}/close-approvals
GET /me/approvals
GET /me/nominations
GET /users/{id}/tokens
POST /imports/people
GET /me/notifications
POST /me/notifications/read
GET /me/preferences
PATCH /me/preferences
GET /notifications/outbox
"""


def test_the_app_serves_exactly_the_paths_of_the_contract(app):
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    contract = {(m, shape(p)) for m, p in (line.split() for line in API_MD_PATHS.strip().splitlines())}
    served = {(m, shape(r.path)) for r in api_routes(app) for m in r.methods if r.path != "/healthz"}
    served.add(("GET", "/healthz"))
    assert served == contract
