"""API.md, Conventions, Tokens and Text: a 90-day default expiry, deactivation
revokes tokens for good; duplicate JSON keys, names without a visible
character or with a control character, over-long emails, and booleans that
are not JSON booleans (or, in a query, not `true`/`false`) are 422s."""

import typing
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import select

from plaudit.models import ApiToken
from plaudit.schemas.common import StrictBody
from tests.api.test_platform import api_routes
from tests.conftest import NOW
from tests.factories import auth, make_criterion, make_cycle, make_team, make_token, make_user
from tests.helpers import as_role, assert_problem, audit_count

# --- tokens --------------------------------------------------------------------------


def test_a_token_without_expiry_expires_after_90_days(session, client):
    user, headers = as_role(session)
    for body in ({"name": "laptop"}, {"name": "laptop", "expires_at": None}):
        response = client.post(f"/users/{user.id}/tokens", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["expires_at"] == (NOW + timedelta(days=90)).isoformat().replace("+00:00", "Z")


def test_a_token_with_an_expiry_keeps_it(session, client):
    user, headers = as_role(session)
    response = client.post(f"/users/{user.id}/tokens", json={"name": "ci", "expires_at": "2030-02-01T00:00:00Z"},
                           headers=headers)
    assert response.json()["expires_at"] == "2030-02-01T00:00:00Z"


def test_deactivating_a_user_revokes_their_tokens_for_good(session, client):
    _, admin = as_role(session, "admin")
    user = make_user(session)
    secrets = [make_token(session, user) for _ in range(2)]
    already = make_token(session, user, revoked_at=NOW - timedelta(days=1))
    assert client.get("/users/me", headers=auth(secrets[0])).status_code == 200

    response = client.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin)
    assert response.status_code == 200, response.text
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert sorted(str(t.revoked_at) for t in rows).count(str(NOW)) == 2  # the live two, at the request's time
    assert audit_count(session, action="token.revoke") == 2

    assert client.patch(f"/users/{user.id}", json={"is_active": True}, headers=admin).status_code == 200
    for secret in [*secrets, already]:
        assert_problem(client.get("/users/me", headers=auth(secret)), 401, "unauthenticated")


# --- duplicate keys ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b'{"name": "A", "name": "B"}',
    b'{"items": [{"name": "A", "weight": 1, "weight": 0.5}]}',
])
def test_a_duplicate_json_key_is_422(session, client, raw):
    _, admin = as_role(session, "admin")
    draft = make_cycle(session, status="draft", nominations="before", approvals="before")
    before = audit_count(session)
    for method, path in (("POST", "/teams"), ("PUT", f"/cycles/{draft.id}/criteria")):
        response = client.request(method, path, content=raw, headers={**admin, "content-type": "application/json"})
        problem = assert_problem(response, 422, "validation_error")
        assert "duplicate key" in problem["errors"][0]["msg"]
    assert audit_count(session) == before


# --- names -------------------------------------------------------------------------------

INVISIBLE = {
    "zero-width-space": "\u200b\u200b",
    "word-joiner-and-bom": "\u2060\ufeff",
    "hangul-filler": "\u3164",
    "braille-blank": "\u2800",
    "combining-mark-alone": "\u0301",
    "ideographic-space-and-nbsp": "\u3000\u00a0 ",
    "soft-hyphen": "\u00ad",
}
CONTROL = {
    "line-feed": "Team\nA",
    "bell": "Team\x07",
    "delete": "Te\x7fam",
    "c1-next-line": "Te\x85am",
    "tab": "Team\tA",
}


def _name_requests(session):
    """(method, path, body-for-name) of every place a name is given."""
    draft = make_cycle(session, status="draft", nominations="before", approvals="before")
    criterion = make_criterion(session, draft)
    user, team = make_user(session), make_team(session)
    cycle_body = {
        "nomination_opens_at": "2030-01-11T12:00:00Z", "nomination_closes_at": "2030-01-15T12:00:00Z",
        "approval_opens_at": "2030-01-12T12:00:00Z", "approval_closes_at": "2030-01-18T12:00:00Z",
    }
    return [
        ("POST", "/users", lambda n: {"email": "n@example.org", "display_name": n, "role": "employee"}),
        ("PATCH", f"/users/{user.id}", lambda n: {"display_name": n}),
        ("POST", "/teams", lambda n: {"name": n}),
        ("PATCH", f"/teams/{team.id}", lambda n: {"name": n}),
        ("POST", "/cycles", lambda n: {"name": n, **cycle_body}),
        ("PATCH", f"/cycles/{draft.id}", lambda n: {"name": n}),
        ("POST", f"/cycles/{draft.id}/criteria", lambda n: {"name": n, "weight": "0.5"}),
        ("PUT", f"/cycles/{draft.id}/criteria", lambda n: {"items": [{"name": n, "weight": "1"}]}),
        ("PATCH", f"/criteria/{criterion.id}", lambda n: {"name": n}),
    ]


@pytest.mark.parametrize("name", [*INVISIBLE.values(), *CONTROL.values()], ids=[*INVISIBLE, *CONTROL])
def test_a_name_without_a_visible_character_or_with_a_control_character_is_422(session, client, name):
    _, admin = as_role(session, "admin")
    requests = _name_requests(session)
    before = audit_count(session)
    for method, path, body in requests:
        response = client.request(method, path, json=body(name), headers=admin)
        assert response.status_code == 422, (method, path, response.text)
        assert_problem(response, 422, "validation_error")
    assert audit_count(session) == before


@pytest.mark.parametrize("name", ["Zoë", "李小龙", "\u200bAda", "🎉 Party", "Ω", "O'Brien-Smith"])
def test_names_with_a_visible_character_are_accepted(session, client, name):
    _, admin = as_role(session, "admin")
    response = client.post("/teams", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.text


# --- emails ------------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "ok"), [
    ("a" * 64 + "@example.org", True),
    ("a" * 65 + "@example.org", False),
    ("a@" + "b" * 240 + ".org", True),  # 2 + 240 + 4 = 246
    ("a" * 60 + "@" + "b" * 190 + ".org", False),  # 255
    ("a" * 60 + "@" + "b" * 189 + ".org", True),  # 254
])
def test_emails_keep_to_rfc_5321_lengths(session, client, email, ok):
    _, admin = as_role(session, "admin")
    response = client.post("/users", json={"email": email, "display_name": "E", "role": "employee"}, headers=admin)
    if ok:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422, "validation_error")


# --- booleans ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false", None, "on"])
def test_a_body_boolean_must_be_a_json_boolean(session, client, value):
    _, admin = as_role(session, "admin")
    user = make_user(session)
    response = client.patch(f"/users/{user.id}", json={"is_active": value}, headers=admin)
    assert_problem(response, 422, "validation_error")


def test_no_body_takes_a_lax_boolean(app):
    """Every request body's boolean fields, nested ones too, are strict (a JSON boolean only)."""
    models: set[type[StrictBody]] = set()

    def collect(annotation) -> None:
        if isinstance(annotation, type) and issubclass(annotation, StrictBody):
            if annotation not in models:
                models.add(annotation)
                for field in annotation.model_fields.values():
                    collect(field.annotation)
        for arg in typing.get_args(annotation):
            collect(arg)

    for route in api_routes(app):
        if route.body_field is not None:
            collect(route.body_field.field_info.annotation)
    booleans = [(model, name) for model in models for name, field in model.model_fields.items()
                if _mentions_bool(field.annotation)]
    assert len(models) >= 8 and len(booleans) >= 2
    for model, name in booleans:
        for lax in (1, 1.0, "true", "yes"):
            with pytest.raises(ValidationError) as refused:
                model.model_validate({name: lax})
            assert any(error["loc"][:1] == (name,) for error in refused.value.errors()), (model.__name__, name, lax)


def _mentions_bool(annotation) -> bool:
    """A bool, or a Literal of booleans, anywhere in the annotation."""
    if annotation is bool:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return any(isinstance(value, bool) for value in typing.get_args(annotation))
    return any(_mentions_bool(arg) for arg in typing.get_args(annotation))


def _bool_query_routes(app) -> list[tuple[APIRoute, str]]:
    found = []
    for route in api_routes(app):
        for param in route.dependant.query_params:
            if param.field_info.annotation is bool and not route.param_convertors:
                found.append((route, param.alias))
    return found


@pytest.mark.parametrize("value", ["yes", "1", "on", "True", "t", ""])
def test_a_query_boolean_is_true_or_false_only(session, client, app, value):
    _, admin = as_role(session, "admin")
    routes = _bool_query_routes(app)
    assert {(r.path, name) for r, name in routes} >= {("/cycles", "include_archived"), ("/users", "include_inactive")}
    for route, name in routes:
        for method in route.methods:
            response = client.request(method, route.path, params={name: value}, headers=admin)
            assert_problem(response, 422, "validation_error")


def test_query_booleans_true_and_false_work(session, client):
    _, admin = as_role(session, "admin")
    for value in ("true", "false"):
        assert client.get("/cycles", params={"include_archived": value}, headers=admin).status_code == 200
        assert client.get("/users", params={"include_inactive": value}, headers=admin).status_code == 200
