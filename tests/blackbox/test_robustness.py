"""Malformed and hostile input: never a 500, always problem+json, nothing changed."""

import base64
import json

import pytest

from tests.blackbox.conftest import JUSTIFICATION, assert_problem, uniq, windows

MISSING = "00000000-0000-0000-0000-000000000000"


def _no_500(r):
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers


@pytest.mark.parametrize(
    "text", ["a\x00b", "\x00" * 12, "ok\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]
)
def test_nul_and_odd_characters_in_strings(px, text):
    _no_500(px.admin.post("/users", json={"email": f"n{uniq()}@example.org", "display_name": text, "role": "employee"}))
    _no_500(px.admin.post("/teams", json={"name": text + uniq()}))
    _no_500(px.admin.post("/cycles", json={"name": text + uniq(), **windows()}))
    _no_500(px.admin.get("/users", params={"q": text}))
    p, _ = px.published()
    emp, other = px.user(), px.user()
    _no_500(emp.api.post(f"/cycles/{p['id']}/nominations",
                         json={"nominee_id": other.id, "justification": JUSTIFICATION + text}))


def test_nul_byte_in_name_is_422(px):
    r = px.admin.post("/teams", json={"name": "bad\x00name"})
    assert r.status_code in (201, 422), r.text
    _no_500(r)


@pytest.mark.parametrize("big", [10**30, -(10**30), 1e308, "1" * 400])
def test_huge_numbers(px, big):
    _no_500(px.admin.post("/cycles", json={"name": f"C {uniq()}", **windows(), "award_slots": big}))
    _no_500(px.admin.post("/cycles", json={"name": f"C {uniq()}", **windows(), "required_approvals": big}))
    _no_500(px.admin.post("/cycles", json={"name": f"C {uniq()}", **windows(), "rating_max": big}))
    _no_500(px.admin.post("/cycles", json={"name": f"C {uniq()}", **windows(), "max_nominations_per_nominator": big}))
    _no_500(px.admin.get("/users", params={"limit": big}))
    c = px.cycle()
    _no_500(px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "A", "weight": big}))
    _no_500(px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "A", "weight": "0.5", "position": big}))


def test_huge_rating_value(px):
    p, crits = px.published()
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, p["id"], nominee.id)
    for v in [10**30, -(10**30), 2**31, "5", True, None, "x"]:
        r = px.admin.put(f"/nominations/{n['id']}/approval",
                         json={"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": v}]})
        _no_500(r)
        if v not in ("5",):
            assert r.status_code == 422, (v, r.text)


def test_wrong_types_everywhere(px):
    c = px.cycle()
    for body in [None, [], "x", 1, {"name": 1}, {"name": None}, {"name": ["x"]}]:
        _no_500(px.admin.post("/teams", json=body))
        _no_500(px.admin.patch(f"/cycles/{c['id']}", json=body))
        _no_500(px.admin.put(f"/cycles/{c['id']}/criteria", json=body))
    _no_500(px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": None}))
    _no_500(px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": [None]}))
    _no_500(px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": []}))


def test_empty_criteria_replace_is_refused(px):
    c = px.cycle()
    r = px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": []})
    assert r.status_code in (409, 422), r.text
    if r.status_code == 409:
        assert r.json()["code"] == "weights_invalid"


def test_long_request_id_is_not_a_500(px):
    rid = "r" * 5000
    r = px.admin.post("/teams", json={"name": f"T {uniq()}"}, headers={"X-Request-ID": rid})
    _no_500(r)
    r = px.admin.post("/teams", json={"name": f"T {uniq()}"}, headers={"X-Request-ID": "ünïç".encode()})
    _no_500(r)


@pytest.mark.parametrize("cursor", [
    "x", "", "=====", base64.urlsafe_b64encode(b"not json").decode(),
    base64.urlsafe_b64encode(json.dumps({"id": "nope"}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps(["a", 1, None]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps([1e999]).encode()).decode() if False else "eyJ9",
    "a" * 5000,
])
def test_tampered_cursors(px, cursor):
    for path in ["/users", "/teams", "/cycles", "/audit-logs"]:
        r = px.admin.get(path, params={"cursor": cursor})
        _no_500(r)
        if cursor:
            assert r.status_code == 422, (path, cursor, r.text[:200])


def test_cursor_from_other_list_is_not_a_500(px):
    for _ in range(3):
        px.team()
    cur = px.admin.get("/teams", params={"limit": 1}).json()["next_cursor"]
    assert cur
    for path in ["/users", "/cycles", "/audit-logs"]:
        _no_500(px.admin.get(path, params={"cursor": cur}))
    users_cur = px.admin.get("/users", params={"limit": 1}).json()["next_cursor"]
    _no_500(px.admin.get("/audit-logs", params={"cursor": users_cur}))


def test_user_search_treats_wildcards_literally(px):
    tag = uniq()
    px.user(name=f"Wild {tag}")
    for q in ["%", "_", "%%", "\\"]:
        r = px.admin.get("/users", params={"q": q, "limit": 200})
        _no_500(r)
        for u in r.json()["items"]:
            assert q in u["display_name"] or q in u["email"], (q, u)


def test_unknown_references_are_not_500(px):
    _no_500(px.admin.post("/users", json={"email": f"x{uniq()}@example.org", "display_name": "X", "role": "employee",
                                          "team_id": MISSING}))
    _no_500(px.admin.post("/teams", json={"name": f"T {uniq()}", "manager_id": MISSING}))
    u = px.user()
    _no_500(px.admin.patch(f"/users/{u.id}", json={"team_id": MISSING}))
    assert px.admin.get(f"/users/{u.id}").json()["team_id"] is None
    assert_problem(px.admin.post(f"/users/{MISSING}/tokens", json={"name": "x"}), 404, "not_found")
    assert_problem(px.admin.delete(f"/tokens/{MISSING}"), 404, "not_found")
    assert_problem(px.admin.get(f"/cycles/{MISSING}/results"), 404, "not_found")
    assert_problem(px.admin.get(f"/cycles/{MISSING}/preview"), 404, "not_found")
    assert_problem(px.admin.post(f"/cycles/{MISSING}/finalize"), 404, "not_found")
    assert_problem(px.admin.get(f"/nominations/{MISSING}/approvals"), 404, "not_found")
    assert_problem(px.admin.patch(f"/criteria/{MISSING}", json={"weight": "1"}), 404, "not_found")


def test_invalid_email_and_role_values(px):
    for email in ["not-an-email", "", "a@", "@b.org", "x" * 400 + "@example.org"]:
        r = px.admin.post("/users", json={"email": email, "display_name": "X", "role": "employee"})
        assert r.status_code == 422, (email, r.text)


def test_method_not_allowed_is_problem_json(px):
    r = px.admin.request("PATCH", "/healthz")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")


def test_bool_query_params_are_validated(px):
    _no_500(px.admin.get("/cycles", params={"include_archived": "maybe"}))
    assert px.admin.get("/cycles", params={"include_archived": "maybe"}).status_code == 422
    assert px.admin.get("/audit-logs", params={"since": "yesterday"}).status_code == 422
