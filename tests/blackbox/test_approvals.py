"""Approvals: the 7 ordered checks, status recomputation, replace semantics,
visibility of approvals, and a racing PUT by one approver."""

import httpx

from tests.blackbox.conftest import (
    APPROVAL_KEYS,
    assert_problem,
    concurrently,
    parse_utc,
)

MISSING = "00000000-0000-0000-0000-000000000000"


def _put(caller, nomination_id, body):
    return caller.put(f"/nominations/{nomination_id}/approval", json=body)


def _approve_body(crits, value=3):
    return {"decision": "approve", "ratings": [{"criterion_id": c["id"], "value": value} for c in crits]}


def _setup(px, nominations="open", approvals="open", **fields):
    team, manager = px.team_with_manager()
    nominator, nominee = px.user(), px.user(team_id=team["id"])
    p, crits = px.published(criteria=(("Impact", "0.6"), ("Craft", "0.4")), **fields)
    n = px.nominate(nominator, p["id"], nominee.id)
    if (nominations, approvals) != ("open", "open"):
        px.set_windows(p["id"], nominations, approvals)
    return p, crits, n, manager, nominator, nominee


def test_first_put_is_201_then_200_with_nomination_status(px):
    _p, crits, n, manager, *_ = _setup(px)
    r = _put(manager.api, n["id"], _approve_body(crits, 4))
    assert r.status_code == 201, r.text
    a = r.json()
    assert set(a) == APPROVAL_KEYS | {"nomination_status"}
    assert (a["nomination_id"], a["approver_id"], a["decision"]) == (n["id"], manager.id, "approve")
    assert a["nomination_status"] == "approved"
    assert sorted((x["criterion_id"], x["value"]) for x in a["ratings"]) == sorted((c["id"], 4) for c in crits)
    assert all(set(x) == {"criterion_id", "criterion_name", "value"} for x in a["ratings"])
    parse_utc(a["created_at"]), parse_utc(a["updated_at"])
    rows = px.audit(entity_type="approval", entity_id=a["id"])
    assert [x["action"] for x in rows] == ["approval.submit"]
    r2 = _put(manager.api, n["id"], {"decision": "reject", "comment": "Changed my mind."})
    assert r2.status_code == 200, r2.text
    b = r2.json()
    assert b["id"] == a["id"] and b["decision"] == "reject" and b["ratings"] == []
    assert b["comment"] == "Changed my mind." and b["nomination_status"] == "rejected"
    lst = px.admin.get(f"/nominations/{n['id']}/approvals")
    assert lst.status_code == 200 and set(lst.json()) == {"items"}
    assert len(lst.json()["items"]) == 1 and set(lst.json()["items"][0]) == APPROVAL_KEYS
    rows = px.audit(entity_type="approval", entity_id=a["id"])
    assert len(rows) == 2
    payloads = [r["payload"] for r in rows]  # newest first
    assert "nomination_status" in str(payloads[0]) or "status" in str(payloads[0])


def test_status_recomputation_with_two_required_approvals(px):
    _p, crits, n, manager, nominator, _nominee = _setup(px, required_approvals=2)
    admin2 = px.user("admin")
    assert _put(manager.api, n["id"], _approve_body(crits)).json()["nomination_status"] == "pending"
    assert px.admin.get(f"/nominations/{n['id']}").json()["status"] == "pending"
    assert _put(admin2.api, n["id"], _approve_body(crits)).json()["nomination_status"] == "approved"
    assert px.admin.get(f"/nominations/{n['id']}").json()["status"] == "approved"
    assert _put(admin2.api, n["id"], {"decision": "reject", "comment": "No."}).json()["nomination_status"] == "rejected"
    assert px.admin.get(f"/nominations/{n['id']}").json()["status"] == "rejected"
    assert _put(admin2.api, n["id"], _approve_body(crits, 5)).json()["nomination_status"] == "approved"
    # the approval.submit audit row records the nomination status before and after
    row = px.audit(entity_type="approval", action="approval.submit", actor_id=admin2.id)[0]
    assert "rejected" in str(row["payload"]) and "approved" in str(row["payload"])
    # withdrawn stays withdrawn
    assert nominator.api.post(f"/nominations/{n['id']}/withdraw").json()["status"] == "withdrawn"
    assert_problem(_put(admin2.api, n["id"], _approve_body(crits)), 409, "nomination_state")
    assert px.admin.get(f"/nominations/{n['id']}").json()["status"] == "withdrawn"


def test_reject_requires_a_comment(px):
    _p, crits, n, manager, *_ = _setup(px)
    for body in [{"decision": "reject"}, {"decision": "reject", "comment": "   \n "},
                 {"decision": "approve", "comment": "x" * 2001, "ratings": _approve_body(crits)["ratings"]}]:
        r = _put(manager.api, n["id"], body)
        assert r.status_code == 422, r.text
    assert_problem(_put(manager.api, n["id"], {"decision": "maybe"}), 422, "validation_error")
    assert_problem(_put(manager.api, n["id"], {**_approve_body(crits), "score": "5"}), 422, "validation_error")
    assert_problem(_put(manager.api, n["id"], {**_approve_body(crits), "approver_id": manager.id}), 422,
                   "validation_error")
    assert px.admin.get(f"/nominations/{n['id']}/approvals").json()["items"] == []


# ---- the 7 checks in order -----------------------------------------------------

def test_check1_not_found_for_missing_or_invisible(px):
    _p, crits, n, manager, _nominator, nominee = _setup(px)
    stranger_manager = px.team_with_manager()[1]
    assert_problem(_put(manager.api, MISSING, _approve_body(crits)), 404, "not_found")
    # invisible: not an approver -> not_found, never not_approver
    assert_problem(_put(stranger_manager.api, n["id"], _approve_body(crits)), 404, "not_found")
    assert_problem(_put(px.user().api, n["id"], {"decision": "reject", "comment": "x"}), 404, "not_found")
    # the nominee cannot see it while published
    assert_problem(_put(nominee.api, n["id"], _approve_body(crits)), 404, "not_found")


def test_check2_cycle_state_before_window_and_everything_else(px):
    p, _crits, n, _manager, nominator, _nominee = _setup(px)
    nominator.api.post(f"/nominations/{n['id']}/withdraw")
    px.close(p["id"])
    px.finalize(p["id"])
    # finalized, window closed, withdrawn, nominator is no approver, bad ratings: cycle_state
    assert_problem(_put(px.admin, n["id"], {"decision": "approve", "ratings": []}), 409, "cycle_state")
    assert_problem(_put(nominator.api, n["id"], {"decision": "approve", "ratings": []}), 409, "cycle_state")


def test_check3_window_before_withdrawn(px):
    p, crits, n, manager, nominator, _nominee = _setup(px, "open", "before")
    assert_problem(_put(manager.api, n["id"], _approve_body(crits)), 409, "window_closed")
    nominator.api.post(f"/nominations/{n['id']}/withdraw")
    assert_problem(_put(manager.api, n["id"], {"decision": "approve", "ratings": []}), 409, "window_closed")
    assert_problem(_put(nominator.api, n["id"], _approve_body(crits)), 409, "window_closed")
    px.set_windows(p["id"], "after", "after")
    assert_problem(_put(px.admin, n["id"], _approve_body(crits)), 409, "window_closed")


def test_check4_withdrawn_before_not_approver(px):
    _p, crits, n, manager, nominator, _nominee = _setup(px)
    nominator.api.post(f"/nominations/{n['id']}/withdraw")
    # the nominator sees it but is no approver and in conflict: nomination_state first
    assert_problem(_put(nominator.api, n["id"], {"decision": "approve", "ratings": []}), 409, "nomination_state")
    assert_problem(_put(manager.api, n["id"], _approve_body(crits)), 409, "nomination_state")


def test_check5_not_approver_before_conflict(px):
    _p, _crits, n, _manager, nominator, _nominee = _setup(px)
    # the nominator (an employee) can see the nomination, is not an approver, and has a conflict
    assert_problem(_put(nominator.api, n["id"], {"decision": "approve", "ratings": []}), 403, "not_approver")


def test_manager_role_required_even_if_team_manager(px):
    """The approver must be the team's manager AND have role manager/admin."""
    team, manager = px.team_with_manager()
    nominator, nominee = px.user(), px.user(team_id=team["id"])
    p, crits = px.published()
    n = px.nominate(nominator, p["id"], nominee.id)
    demote = px.admin.patch(f"/users/{manager.id}", json={"role": "team_lead"})
    if demote.status_code == 422:  # the server keeps team managers manager/admin: also consistent
        assert demote.headers["content-type"].startswith("application/problem+json")
        return
    assert demote.status_code == 200, demote.text
    r = _put(manager.api, n["id"], _approve_body(crits))
    assert r.status_code in (403, 404) and r.json()["code"] in ("not_approver", "not_found"), r.text


def test_check6_conflict_of_interest_for_admins(px):
    p, crits = px.published(criteria=(("Impact", "1"),))
    admin_nominator, admin_nominee, emp = px.user("admin"), px.user("admin"), px.user()
    mine = px.nominate(admin_nominator, p["id"], emp.id)
    about_me = px.nominate(emp, p["id"], admin_nominee.id)
    bad = {"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": 99}]}
    assert_problem(_put(admin_nominator.api, mine["id"], bad), 403, "conflict_of_interest")
    # one about oneself is invisible, admins included (API.md: 404)
    assert_problem(_put(admin_nominee.api, about_me["id"], bad), 404, "not_found")
    # a manager nominating someone in their own team: approver, but conflicted
    team, manager = px.team_with_manager()
    member = px.user(team_id=team["id"])
    own = px.nominate(manager, p["id"], member.id)
    assert_problem(_put(manager.api, own["id"], _approve_body(crits)), 403, "conflict_of_interest")


def test_check7_invalid_ratings(px):
    _p, crits, n, manager, *_ = _setup(px, rating_min=0, rating_max=10)
    c1, c2 = crits
    cases = [
        {"decision": "approve"},                                                           # missing all
        {"decision": "approve", "ratings": []},
        {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": 5}]},       # missing one
        {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": 5},
                                            {"criterion_id": c2["id"], "value": 11}]},      # above scale
        {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": -1},
                                            {"criterion_id": c2["id"], "value": 5}]},       # below scale
        {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": 5},
                                            {"criterion_id": c2["id"], "value": 5},
                                            {"criterion_id": MISSING, "value": 5}]},        # extra
        {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": 5},
                                            {"criterion_id": c1["id"], "value": 5}]},       # duplicate, c2 missing
        {"decision": "reject", "comment": "No.", "ratings": [{"criterion_id": c1["id"], "value": 5}]},
    ]
    for body in cases:
        assert_problem(_put(manager.api, n["id"], body), 422, "invalid_ratings")
    assert px.admin.get(f"/nominations/{n['id']}/approvals").json()["items"] == []
    assert px.audit(entity_type="approval", actor_id=manager.id) == []
    # criterion of another cycle
    _, other_crits = px.published(criteria=(("Other", "1"),))
    body = {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": 5},
                                               {"criterion_id": other_crits[0]["id"], "value": 5}]}
    assert_problem(_put(manager.api, n["id"], body), 422, "invalid_ratings")
    # the bounds themselves are fine
    body = {"decision": "approve", "ratings": [{"criterion_id": c1["id"], "value": 0},
                                               {"criterion_id": c2["id"], "value": 10}]}
    assert _put(manager.api, n["id"], body).status_code == 201


def test_non_integer_rating_is_rejected(px):
    _p, crits, n, manager, *_ = _setup(px)
    body = {"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": 2.5},
                                               {"criterion_id": crits[1]["id"], "value": 3}]}
    r = _put(manager.api, n["id"], body)
    assert r.status_code == 422 and r.json()["code"] in ("validation_error", "invalid_ratings"), r.text


def test_approvals_list_visibility(px):
    _p, crits, n, manager, nominator, nominee = _setup(px)
    px.approve(manager.api, n["id"], {c["id"]: 3 for c in crits})
    assert len(manager.api.get(f"/nominations/{n['id']}/approvals").json()["items"]) == 1
    assert len(px.admin.get(f"/nominations/{n['id']}/approvals").json()["items"]) == 1
    assert_problem(nominee.api.get(f"/nominations/{n['id']}/approvals"), 404, "not_found")
    assert_problem(px.user().api.get(f"/nominations/{n['id']}/approvals"), 404, "not_found")
    r = nominator.api.get(f"/nominations/{n['id']}/approvals")
    assert r.status_code in (403, 404), r.text  # the nominator is no approver


def test_racing_put_by_one_approver(px, base_url):
    _p, crits, n, manager, *_ = _setup(px)
    body = _approve_body(crits, 4)

    def one(i):
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            return http.put(f"/nominations/{n['id']}/approval", json=body,
                            headers={"Authorization": f"Bearer {manager.token}"})

    results = concurrently(16, one)
    codes = [r.status_code for r in results]
    assert codes.count(201) == 1 and codes.count(200) == 15, [(r.status_code, r.text[:150]) for r in results]
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 1
    assert len(px.admin.get(f"/nominations/{n['id']}/approvals").json()["items"]) == 1
