"""Cursors (API.md, Conventions): a cursor the server did not issue is a 422,
never a 500, on every list. A property test feeds every list random cursors
and mutations of real ones."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plaudit.api.app import create_app
from plaudit.paging import SortKey, encode_cursor, seal
from tests.api.test_platform import api_routes
from tests.factories import make_cycle, make_nomination, make_org, make_team
from tests.helpers import as_role, assert_problem

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def list_routes(app) -> list[APIRoute]:
    """Every GET route that takes `cursor`: the lists."""
    return [
        r for r in api_routes(app)
        if "GET" in r.methods and any(p.alias == "cursor" for p in _query_params(r.dependant))
    ]


def _query_params(dependant):
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


@pytest.fixture
def world(session):
    """An admin's headers, and an object for every id a list's path names."""
    org = make_org(session)
    for _ in range(3):
        make_team(session)
    cycle = make_cycle(session)
    nomination = make_nomination(session, cycle, org.nominator, org.nominee)
    admin, headers = as_role(session, "admin")
    ids = {"cycle_id": cycle.id, "user_id": admin.id, "team_id": org.team.id, "nomination_id": nomination.id}
    return headers, ids


def test_every_list_is_found():
    assert {"/teams", "/users", "/cycles", "/audit-logs", "/cycles/{cycle_id}/nominations"} <= set(LIST_PATHS)


FORGED_TEAMS = {
    # The cursors of the report (issue 9): signed as if issued, values of the wrong types.
    "int-name": [5, uuid.uuid4()],
    "bool-name": [True, uuid.uuid4()],
    "time-name": [datetime(2030, 1, 1, tzinfo=UTC), uuid.uuid4()],
    "decimal-name": [Decimal("1.5"), uuid.uuid4()],
    "text-id": ["a", "not-a-uuid"],
    "int-id": ["a", 7],
}


@pytest.mark.parametrize("values", FORGED_TEAMS.values(), ids=FORGED_TEAMS.keys())
def test_a_cursor_with_values_of_the_wrong_types_is_422(client, world, values):
    headers, _ = world
    response = client.get("/teams", params={"cursor": encode_cursor(values)}, headers=headers)
    assert_problem(response, 422, "validation_error")


def test_an_unsigned_cursor_is_422(client, world):
    """The report's cursor as sent: base64url of the JSON, no signature."""
    headers, _ = world
    raw = json.dumps([5, {"u": str(uuid.uuid4())}]).encode()
    unsigned = seal(raw).split(".")[0]
    assert_problem(client.get("/teams", params={"cursor": unsigned}, headers=headers), 422, "validation_error")


def test_real_cursors_page_on_every_list(client, world, app):
    headers, ids = world
    response = client.get("/teams", params={"limit": 1}, headers=headers)
    cursor = response.json()["next_cursor"]
    assert cursor
    assert client.get("/teams", params={"limit": 1, "cursor": cursor}, headers=headers).status_code == 200


def test_a_sort_key_needs_a_python_type():
    from sqlalchemy import func

    from plaudit.models import Team

    with pytest.raises(TypeError):
        SortKey(func.lower(Team.name))


def _mutate(cursor: str, data) -> str:
    """`cursor` changed in one place: a character replaced, dropped or added,
    cut short, or its signature moved."""
    kind = data.draw(st.sampled_from(["replace", "drop", "insert", "truncate", "swap"]))
    i = data.draw(st.integers(0, max(len(cursor) - 1, 0)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    if kind == "replace":
        c = data.draw(st.sampled_from([a for a in alphabet if a != cursor[i]]))
        return cursor[:i] + c + cursor[i + 1:]
    if kind == "drop":
        return cursor[:i] + cursor[i + 1:]
    if kind == "insert":
        return cursor[:i] + data.draw(st.sampled_from(alphabet)) + cursor[i:]
    if kind == "truncate":
        return cursor[:i]
    payload, _, mac = cursor.partition(".")
    return f"{mac}.{payload}"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["u", "t", "d", "x"]), inner,
                                                                max_size=2),
    max_leaves=6,
)


LIST_PATHS = sorted(r.path for r in list_routes(create_app()))
REAL: dict[str, str] = {}  # per list URL: a cursor it issued (URLs hold fresh ids, so one test's)


@pytest.mark.parametrize("path", LIST_PATHS)
@PROPERTY
@given(data=st.data())
def test_no_cursor_is_a_500_on_any_list(client, world, path, data):
    """Random text, mutations of a real cursor (always 422), and signed
    random JSON (422, or 200 when it happens to be a position of the list)."""
    headers, ids = world
    url = path.format(**ids)
    if url not in REAL:
        first = client.get(url, params={"limit": 1}, headers=headers)
        assert first.status_code == 200, (url, first.text)
        REAL[url] = first.json()["next_cursor"] or encode_cursor([uuid.uuid4()])
    real = REAL[url]
    kind = data.draw(st.sampled_from(["text", "mutated", "signed-json"]))
    if kind == "text":
        cursor = data.draw(st.text(min_size=1, max_size=200).filter(lambda t: "\x00" not in t))
    elif kind == "mutated":
        cursor = _mutate(real, data)
    else:
        cursor = seal(json.dumps(data.draw(JSON)).encode())
    response = client.get(url, params={"cursor": cursor}, headers=headers)
    assert response.status_code != 500, (url, cursor, response.text)
    if kind == "signed-json":
        assert response.status_code in (200, 422), (url, cursor, response.text)
    elif cursor != real and cursor:
        assert_problem(response, 422, "validation_error")
