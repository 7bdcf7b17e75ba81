"""The nominations and approvals HTTP contract (API.md): paths, shapes,
status codes, problem codes, strict bodies."""

import uuid

import pytest
from sqlalchemy import select

from plaudit.models import AuditLog, Nomination
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

JUSTIFICATION = "Led the incident review and fixed the root cause."
NOMINATION_KEYS = {"id", "cycle_id", "cycle_name", "nominator_id", "nominator_name", "nominee_id", "nominee_name",
                   "nominee_team_name", "justification", "status", "approvals_count", "created_at", "updated_at",
                   "withdrawn_at"}
APPROVAL_KEYS = {"id", "nomination_id", "approver_id", "approver_name", "decision", "comment", "ratings",
                 "created_at", "updated_at"}


class Actors:
    def __init__(self, session):
        self.admin = make_user(session, role="admin")
        self.manager = make_user(session, role="manager")
        team = make_team(session, manager=self.manager)
        self.nominee = make_user(session, team=team)
        self.nominator = make_user(session, team=team)
        self.stranger = make_user(session)
        self.h = {name: auth(make_token(session, getattr(self, name)))
                  for name in ("admin", "manager", "nominee", "nominator", "stranger")}


@pytest.fixture
def a(session) -> Actors:
    return Actors(session)


@pytest.fixture
def cycle(session):
    c = make_cycle(session)
    c.criteria = [make_criterion(session, c, name="Impact", weight="0.6"),
                  make_criterion(session, c, name="Care", weight="0.4", position=1)]
    return c


def assert_problem(response, status: int, code: str):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body


def rating_body(cycle, *values):
    return [{"criterion_id": str(c.id), "value": v} for c, v in zip(cycle.criteria, values, strict=True)]


# --------------------------------------------------------------------------- create


def test_post_nomination_returns_201_with_the_nomination(client, session, a, cycle):
    r = client.post(f"/cycles/{cycle.id}/nominations", headers=a.h["nominator"],
                    json={"nominee_id": str(a.nominee.id), "justification": f"  {JUSTIFICATION}  "})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == NOMINATION_KEYS
    assert body["status"] == "pending" and body["justification"] == JUSTIFICATION
    assert body["nominator_id"] == str(a.nominator.id) and body["withdrawn_at"] is None
    assert audit_count(session, action="nomination.create") == 1


def test_request_id_is_stored_on_the_audit_row(client, session, a, cycle):
    client.post(f"/cycles/{cycle.id}/nominations", headers={**a.h["nominator"], "X-Request-ID": "req-nom-1"},
                json={"nominee_id": str(a.nominee.id), "justification": JUSTIFICATION})
    assert session.scalar(select(AuditLog.request_id).where(AuditLog.action == "nomination.create")) == "req-nom-1"


@pytest.mark.parametrize("body", [
    {"nominee_id": "X", "justification": JUSTIFICATION},
    {"justification": JUSTIFICATION},
    {"nominee_id": None, "justification": JUSTIFICATION},
    {"nominee_id": "{nominee}", "justification": "too short"},
    {"nominee_id": "{nominee}", "justification": "          x          "},
    {"nominee_id": "{nominee}", "justification": "x" * 5001},
    {"nominee_id": "{nominee}", "justification": JUSTIFICATION, "status": "approved"},
    {"nominee_id": "{nominee}", "justification": JUSTIFICATION, "nominator_id": "{nominee}"},
    {"nominee_id": "{nominee}", "justification": 12345678901},
    {"nominee_id": "{nominee}", "justification": "null \u0000 inside the text"},
])
def test_malformed_or_server_owned_fields_are_422_validation_error(client, session, a, cycle, body):
    body = {k: (v.replace("{nominee}", str(a.nominee.id)) if isinstance(v, str) else v) for k, v in body.items()}
    r = client.post(f"/cycles/{cycle.id}/nominations", headers=a.h["nominator"], json=body)
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"]
    assert audit_count(session) == 0


def test_non_json_body_is_422(client, a, cycle):
    r = client.post(f"/cycles/{cycle.id}/nominations", headers={**a.h["nominator"], "content-type": "application/json"},
                    content=b"{not json")
    assert_problem(r, 422, "validation_error")


def test_missing_token_is_401(client, cycle):
    r = client.post(f"/cycles/{cycle.id}/nominations", json={})
    assert_problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("case,status,code", [
    ("unknown_cycle", 404, "not_found"),
    ("forbidden_role", 403, "forbidden"),
    ("finalized", 409, "cycle_state"),
    ("closed", 409, "window_closed"),
    ("inactive", 422, "invalid_nominee"),
    ("self", 422, "self_nomination"),
    ("duplicate", 409, "duplicate_nomination"),
    ("quota", 409, "quota_exceeded"),
])
def test_create_rules_map_to_api_codes(client, session, a, case, status, code):
    nominee = a.nominee
    cycle_id = None
    if case == "unknown_cycle":
        cycle_id = uuid.uuid4()
    elif case == "forbidden_role":
        cycle_id = make_cycle(session, nominator_roles=["manager"]).id
    elif case == "finalized":
        cycle_id = make_cycle(session, status="finalized", nominations="after", approvals="after").id
    elif case == "closed":
        cycle_id = make_cycle(session, nominations="after").id
    elif case == "inactive":
        cycle_id, nominee = make_cycle(session).id, make_user(session, is_active=False)
    elif case == "self":
        cycle_id, nominee = make_cycle(session).id, a.nominator
    elif case == "duplicate":
        c = make_cycle(session)
        make_nomination(session, c, a.nominator, a.nominee)
        cycle_id = c.id
    elif case == "quota":
        c = make_cycle(session, max_nominations_per_nominator=1)
        make_nomination(session, c, a.nominator, a.stranger)
        cycle_id = c.id
    before = audit_count(session)
    r = client.post(f"/cycles/{cycle_id}/nominations", headers=a.h["nominator"],
                    json={"nominee_id": str(nominee.id), "justification": JUSTIFICATION})
    assert_problem(r, status, code)
    assert audit_count(session) == before


# --------------------------------------------------------------------------- read, list


def test_get_nomination_visibility(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    for who in ("nominator", "admin", "manager"):
        r = client.get(f"/nominations/{n.id}", headers=a.h[who])
        assert r.status_code == 200 and r.json()["id"] == str(n.id)
    for who in ("nominee", "stranger"):
        assert_problem(client.get(f"/nominations/{n.id}", headers=a.h[who]), 404, "not_found")
    assert_problem(client.get(f"/nominations/{uuid.uuid4()}", headers=a.h["admin"]), 404, "not_found")


def test_list_nominations_pages_and_filters(client, session, a, cycle):
    made = [make_nomination(session, cycle, a.nominator, make_user(session)) for _ in range(3)]
    make_nomination(session, cycle, a.stranger, a.nominee, status="rejected")
    url = f"/cycles/{cycle.id}/nominations"

    r = client.get(url, headers=a.h["admin"], params={"limit": 2})
    assert r.status_code == 200
    page1 = r.json()
    assert set(page1) == {"items", "next_cursor"} and len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = client.get(url, headers=a.h["admin"], params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    assert len(page2["items"]) == 2 and page2["next_cursor"] is None
    assert len({i["id"] for i in page1["items"] + page2["items"]}) == 4

    mine = client.get(url, headers=a.h["nominator"]).json()["items"]
    assert {i["id"] for i in mine} == {str(n.id) for n in made}
    rejected = client.get(url, headers=a.h["admin"], params={"status": "rejected"}).json()["items"]
    assert [i["nominee_id"] for i in rejected] == [str(a.nominee.id)]
    by_nominator = client.get(url, headers=a.h["admin"], params={"nominator_id": str(a.stranger.id)}).json()
    assert len(by_nominator["items"]) == 1
    by_nominee = client.get(url, headers=a.h["manager"], params={"nominee_id": str(a.nominee.id)}).json()
    assert len(by_nominee["items"]) == 1
    assert client.get(url, headers=a.h["nominee"]).json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("params", [{"status": "bogus"}, {"limit": 0}, {"limit": 201}, {"cursor": "garbage!"},
                                    {"nominee_id": "nope"}])
def test_list_nominations_rejects_bad_query_with_422(client, a, cycle, params):
    r = client.get(f"/cycles/{cycle.id}/nominations", headers=a.h["admin"], params=params)
    assert_problem(r, 422, "validation_error")


def test_list_nominations_of_unknown_cycle_is_404(client, a):
    assert_problem(client.get(f"/cycles/{uuid.uuid4()}/nominations", headers=a.h["admin"]), 404, "not_found")


# --------------------------------------------------------------------------- edit, withdraw


def test_patch_nomination_by_nominator(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    r = client.patch(f"/nominations/{n.id}", headers=a.h["nominator"],
                     json={"justification": "Rewritten, longer reason."})
    assert r.status_code == 200 and r.json()["justification"] == "Rewritten, longer reason."
    assert audit_count(session, action="nomination.update") == 1
    assert_problem(client.patch(f"/nominations/{n.id}", headers=a.h["admin"], json={"justification": JUSTIFICATION}),
                   403, "forbidden")
    assert_problem(client.patch(f"/nominations/{n.id}", headers=a.h["stranger"],
                                json={"justification": JUSTIFICATION}), 404, "not_found")
    assert_problem(client.patch(f"/nominations/{n.id}", headers=a.h["nominator"],
                                json={"justification": JUSTIFICATION, "status": "approved"}), 422, "validation_error")
    assert audit_count(session, action="nomination.update") == 1


def test_patch_after_an_approval_is_409_nomination_state(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    make_approval(session, n, a.manager, ratings={c: 3 for c in cycle.criteria})
    r = client.patch(f"/nominations/{n.id}", headers=a.h["nominator"], json={"justification": "Another reason here."})
    assert_problem(r, 409, "nomination_state")


def test_withdraw_returns_200_and_repeat_is_200_without_change(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    r1 = client.post(f"/nominations/{n.id}/withdraw", headers=a.h["nominator"])
    assert r1.status_code == 200 and r1.json()["status"] == "withdrawn" and r1.json()["withdrawn_at"]
    r2 = client.post(f"/nominations/{n.id}/withdraw", headers=a.h["admin"])
    assert r2.status_code == 200
    # Only the admin may read approvals, so only the admin sees how many there are.
    assert (r1.json()["approvals_count"], r2.json()["approvals_count"]) == (None, 0)
    assert {**r2.json(), "approvals_count": None} == r1.json()
    assert audit_count(session, action="nomination.withdraw") == 1


def test_withdraw_by_manager_is_403_and_by_stranger_404(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    assert_problem(client.post(f"/nominations/{n.id}/withdraw", headers=a.h["manager"]), 403, "forbidden")
    assert_problem(client.post(f"/nominations/{n.id}/withdraw", headers=a.h["stranger"]), 404, "not_found")


# --------------------------------------------------------------------------- approvals


def test_put_approval_is_201_first_then_200_with_nomination_status(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    url = f"/nominations/{n.id}/approval"
    r = client.put(url, headers=a.h["manager"], json={"decision": "approve", "ratings": rating_body(cycle, 4, 5)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == APPROVAL_KEYS | {"nomination_status"}
    assert body["nomination_status"] == "approved" and body["decision"] == "approve"
    assert sorted(x["value"] for x in body["ratings"]) == [4, 5]

    r = client.put(url, headers=a.h["manager"], json={"decision": "reject", "comment": "On reflection, no."})
    assert r.status_code == 200
    assert r.json()["id"] == body["id"] and r.json()["ratings"] == [] and r.json()["nomination_status"] == "rejected"
    r = client.put(url, headers=a.h["manager"], json={"decision": "reject", "comment": "On reflection, no."})
    assert r.status_code == 200
    assert audit_count(session, action="approval.submit") == 2
    session.expire_all()
    assert session.get(Nomination, n.id).status == "rejected"


@pytest.mark.parametrize("body", [
    {"decision": "approve", "ratings": "{r:4.5}"},
    {"decision": "approve", "ratings": "{r:'4'}"},
    {"decision": "approve", "ratings": "{r:true}"},
    {"decision": "approve", "ratings": "{r:4, extra}"},
    {"decision": "maybe"},
    {"decision": "reject"},
    {"decision": "reject", "comment": "   "},
    {"decision": "approve", "ratings": "{r:4}", "nomination_status": "approved"},
    {"decision": "approve", "ratings": "{r:4}", "approver_id": "x"},
])
def test_approval_body_is_validated_strictly(client, session, a, cycle, body):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    spec = body.get("ratings")
    if isinstance(spec, str):
        first = str(cycle.criteria[0].id)
        value = {"{r:4.5}": 4.5, "{r:'4'}": "4", "{r:true}": True}.get(spec, 4)
        item = {"criterion_id": first, "value": value}
        if spec == "{r:4, extra}":
            item["weight"] = 1
        body = {**body, "ratings": [item, {"criterion_id": str(cycle.criteria[1].id), "value": 3}]}
    r = client.put(f"/nominations/{n.id}/approval", headers=a.h["manager"], json=body)
    assert_problem(r, 422, "validation_error")
    assert audit_count(session) == 0


@pytest.mark.parametrize("case,who,status,code", [
    ("invisible", "stranger", 404, "not_found"),
    ("finalized", "manager", 409, "cycle_state"),
    ("closed", "manager", 409, "window_closed"),
    ("withdrawn", "manager", 409, "nomination_state"),
    ("plain", "nominator", 403, "not_approver"),
    ("own", "admin", 403, "conflict_of_interest"),
    ("out_of_scale", "manager", 422, "invalid_ratings"),
    ("reject_with_ratings", "manager", 422, "invalid_ratings"),
])
def test_approval_rules_map_to_api_codes(client, session, a, case, who, status, code):
    fields = {"finalized": dict(status="finalized", nominations="after", approvals="after"),
              "closed": dict(nominations="open", approvals="before")}.get(case, {})
    c = make_cycle(session, **fields)
    crit = make_criterion(session, c)
    n = make_nomination(session, c, a.admin if case == "own" else a.nominator, a.nominee,
                        status="withdrawn" if case == "withdrawn" else "pending")
    body = {
        "decision": "approve",
        "ratings": [{"criterion_id": str(crit.id), "value": 9 if case == "out_of_scale" else 3}],
    }
    if case == "reject_with_ratings":
        body = {**body, "decision": "reject", "comment": "No."}
    r = client.put(f"/nominations/{n.id}/approval", headers=a.h[who], json=body)
    assert_problem(r, status, code)
    assert audit_count(session) == 0


def test_get_approvals_lists_items_for_admin_and_approver_only(client, session, a, cycle):
    n = make_nomination(session, cycle, a.nominator, a.nominee)
    make_approval(session, n, a.manager, ratings={c: 3 for c in cycle.criteria})
    for who in ("admin", "manager"):
        r = client.get(f"/nominations/{n.id}/approvals", headers=a.h[who])
        assert r.status_code == 200
        (item,) = r.json()["items"]
        assert set(r.json()) == {"items"} and set(item) == APPROVAL_KEYS
        assert {x["criterion_id"] for x in item["ratings"]} == {str(c.id) for c in cycle.criteria}
    assert_problem(client.get(f"/nominations/{n.id}/approvals", headers=a.h["nominator"]), 403, "forbidden")
    assert_problem(client.get(f"/nominations/{n.id}/approvals", headers=a.h["stranger"]), 404, "not_found")


def test_paths_appear_in_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/cycles/{cycle_id}/nominations"]) >= {"get", "post"}
    assert set(paths["/nominations/{nomination_id}"]) >= {"get", "patch"}
    assert "post" in paths["/nominations/{nomination_id}/withdraw"]
    assert "put" in paths["/nominations/{nomination_id}/approval"]
    assert "get" in paths["/nominations/{nomination_id}/approvals"]
