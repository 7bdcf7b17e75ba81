"""Nominations: the 8 ordered create checks, editing, withdrawing,
visibility, and duplicates/quota under concurrency."""

import httpx

from tests.blackbox.conftest import (
    JUSTIFICATION,
    NOMINATION_KEYS,
    PAGE_KEYS,
    assert_problem,
    concurrently,
    parse_utc,
)

MISSING = "00000000-0000-0000-0000-000000000000"


def _post(person, cycle_id, nominee_id, justification=JUSTIFICATION):
    return person.api.post(f"/cycles/{cycle_id}/nominations",
                           json={"nominee_id": nominee_id, "justification": justification})


def _count_audit(px, entity_type, action, **filters):
    return len(px.audit(entity_type=entity_type, action=action, **filters))


def test_create_nomination_shape(px):
    p, _ = px.published()
    a, b = px.user(), px.user()
    r = _post(a, p["id"], b.id, "  " + JUSTIFICATION + "  ")
    assert r.status_code == 201, r.text
    n = r.json()
    assert set(n) == NOMINATION_KEYS
    assert (n["cycle_id"], n["nominator_id"], n["nominee_id"], n["status"]) == (p["id"], a.id, b.id, "pending")
    assert n["withdrawn_at"] is None
    parse_utc(n["created_at"]), parse_utc(n["updated_at"])
    assert a.api.get(f"/nominations/{n['id']}").json() == n
    rows = px.audit(entity_id=n["id"])
    assert [row["action"] for row in rows] == ["nomination.create"]
    assert rows[0]["actor_id"] == a.id and set(rows[0]["payload"]) == {"after"}


def test_nomination_body_is_strict(px):
    p, _ = px.published()
    a, b = px.user(), px.user()
    base = {"nominee_id": b.id, "justification": JUSTIFICATION}
    for extra in [{"nominator_id": b.id}, {"status": "approved"}, {"cycle_id": p["id"]}, {"score": "5"}, {"x": 1}]:
        assert_problem(a.api.post(f"/cycles/{p['id']}/nominations", json={**base, **extra}), 422, "validation_error")
    for j in ["short", "   nine chars   ".replace("nine chars", "123456789"), "x" * 5001, "\n\t         \t"]:
        assert_problem(_post(a, p["id"], b.id, j), 422, "validation_error")
    assert_problem(a.api.post(f"/cycles/{p['id']}/nominations",
                              json={"nominee_id": "nope", "justification": JUSTIFICATION}),
                   422, "validation_error")
    assert _post(a, p["id"], b.id, "x" * 5000).status_code == 201
    assert _count_audit(px, "nomination", "nomination.create", actor_id=a.id) == 1


# ---- the 8 checks, in order ---------------------------------------------------

def test_check1_missing_or_invisible_cycle_is_not_found_before_role(px):
    emp = px.user()
    draft = px.cycle(nominator_roles=["admin"])
    other = px.user()
    assert_problem(_post(emp, MISSING, other.id), 404, "not_found")
    # draft: invisible to a non-admin, even though the role is also wrong and it is not published
    assert_problem(_post(emp, draft["id"], emp.id, "short"[:5] + " but long enough"), 404, "not_found")


def test_check2_role_before_cycle_state(px):
    emp, other = px.user(), px.user()
    p, _ = px.published(nominator_roles=["team_lead", "manager", "admin"])
    assert_problem(_post(emp, p["id"], other.id), 403, "forbidden")
    # finalized (not published, window closed) and the role is wrong: forbidden wins
    f, _ = px.published(nominator_roles=["admin"])
    px.close(f["id"])
    px.finalize(f["id"])
    assert_problem(_post(emp, f["id"], emp.id), 403, "forbidden")
    # a team lead may nominate in the first cycle
    lead = px.user("team_lead")
    assert _post(lead, p["id"], other.id).status_code == 201


def test_admin_draft_is_cycle_state(px):
    other = px.user()
    draft = px.cycle()
    adm = px.user("admin")
    assert_problem(_post(adm, draft["id"], other.id), 409, "cycle_state")


def test_check3_cycle_state_before_window(px):
    emp, other = px.user(), px.user()
    f, _ = px.published()
    px.close(f["id"])
    px.finalize(f["id"])
    assert_problem(_post(emp, f["id"], MISSING), 409, "cycle_state")
    r = px.admin.post(f"/cycles/{f['id']}/archive")
    assert r.status_code == 200
    assert_problem(_post(emp, f["id"], other.id), 409, "cycle_state")


def test_check4_window_before_nominee(px):
    emp = px.user()
    before, _ = px.published("before", "before")
    after, _ = px.published("after", "open")
    for c in (before, after):
        assert_problem(_post(emp, c["id"], MISSING), 409, "window_closed")
        assert_problem(_post(emp, c["id"], emp.id), 409, "window_closed")


def test_check5_nominee_exists_and_active_before_quota(px):
    emp, other = px.user(), px.user()
    p, _ = px.published(max_nominations_per_nominator=1)
    assert _post(emp, p["id"], other.id).status_code == 201
    assert_problem(_post(emp, p["id"], MISSING), 422, "invalid_nominee")
    inactive = px.user()
    px.admin.patch(f"/users/{inactive.id}", json={"is_active": False})
    assert_problem(_post(emp, p["id"], inactive.id), 422, "invalid_nominee")


def test_check6_self_nomination_before_quota(px):
    emp, other = px.user(), px.user()
    p, _ = px.published(max_nominations_per_nominator=1)
    assert_problem(_post(emp, p["id"], emp.id), 422, "self_nomination")
    assert _post(emp, p["id"], other.id).status_code == 201
    assert_problem(_post(emp, p["id"], emp.id), 422, "self_nomination")


def test_check7_duplicate_before_quota(px):
    emp, other = px.user(), px.user()
    p, _ = px.published(max_nominations_per_nominator=1)
    assert _post(emp, p["id"], other.id).status_code == 201
    assert_problem(_post(emp, p["id"], other.id), 409, "duplicate_nomination")


def test_check8_quota(px):
    emp = px.user()
    p, _ = px.published(max_nominations_per_nominator=2)
    a, b, c = px.user(), px.user(), px.user()
    assert _post(emp, p["id"], a.id).status_code == 201
    assert _post(emp, p["id"], b.id).status_code == 201
    before = _count_audit(px, "nomination", "nomination.create", actor_id=emp.id)
    assert_problem(_post(emp, p["id"], c.id), 409, "quota_exceeded")
    assert _count_audit(px, "nomination", "nomination.create", actor_id=emp.id) == before


def test_withdrawn_nomination_frees_duplicate_and_quota_slots(px):
    emp, a, b = px.user(), px.user(), px.user()
    p, _ = px.published(max_nominations_per_nominator=1)
    n = px.nominate(emp, p["id"], a.id)
    assert emp.api.post(f"/nominations/{n['id']}/withdraw").status_code == 200
    again = _post(emp, p["id"], a.id)
    assert again.status_code == 201 and again.json()["id"] != n["id"]
    assert_problem(_post(emp, p["id"], b.id), 409, "quota_exceeded")
    assert emp.api.post(f"/nominations/{again.json()['id']}/withdraw").status_code == 200
    assert _post(emp, p["id"], b.id).status_code == 201


# ---- edit -------------------------------------------------------------------

def test_edit_justification(px):
    team, manager = px.team_with_manager()
    emp, nominee = px.user(), px.user(team_id=team["id"])
    p, crits = px.published()
    n = px.nominate(emp, p["id"], nominee.id)
    r = emp.api.patch(f"/nominations/{n['id']}", json={"justification": "A better, longer justification."})
    assert r.status_code == 200, r.text
    assert r.json()["justification"] == "A better, longer justification." and set(r.json()) == NOMINATION_KEYS
    rows = px.audit(entity_id=n["id"], action="nomination.update")
    assert len(rows) == 1 and set(rows[0]["payload"]) == {"before", "after"}
    assert rows[0]["payload"]["after"] == {"justification": "A better, longer justification."}
    # strict body
    assert_problem(emp.api.patch(f"/nominations/{n['id']}", json={"status": "approved"}), 422, "validation_error")
    assert_problem(emp.api.patch(f"/nominations/{n['id']}", json={"justification": "short"}), 422, "validation_error")
    # not the nominator: admin and approver see it but may not edit it
    assert_problem(px.admin.patch(f"/nominations/{n['id']}", json={"justification": JUSTIFICATION}), 403, "forbidden")
    assert_problem(manager.api.patch(f"/nominations/{n['id']}", json={"justification": JUSTIFICATION}), 403,
                   "forbidden")
    # a stranger: 404
    assert_problem(px.user().api.patch(f"/nominations/{n['id']}", json={"justification": JUSTIFICATION}), 404,
                   "not_found")
    # after an approval was recorded: nomination_state
    px.approve(manager.api, n["id"], {crits[0]["id"]: 3})
    assert_problem(emp.api.patch(f"/nominations/{n['id']}", json={"justification": JUSTIFICATION}), 409,
                   "nomination_state")
    assert len(px.audit(entity_id=n["id"], action="nomination.update")) == 1


def test_edit_after_nomination_window_closed_is_refused(px):
    emp, nominee = px.user(), px.user()
    p, _ = px.published()
    n = px.nominate(emp, p["id"], nominee.id)
    px.set_windows(p["id"], "after", "open")
    r = emp.api.patch(f"/nominations/{n['id']}", json={"justification": JUSTIFICATION + " more"})
    assert r.status_code == 409 and r.json()["code"] in ("nomination_state", "window_closed"), r.text


# ---- withdraw ---------------------------------------------------------------

def test_withdraw_is_idempotent(px):
    emp, nominee = px.user(), px.user()
    p, _ = px.published()
    n = px.nominate(emp, p["id"], nominee.id)
    r1 = emp.api.post(f"/nominations/{n['id']}/withdraw")
    assert r1.status_code == 200, r1.text
    body = r1.json()
    assert set(body) == NOMINATION_KEYS and body["status"] == "withdrawn"
    parse_utc(body["withdrawn_at"])
    r2 = emp.api.post(f"/nominations/{n['id']}/withdraw")
    assert r2.status_code == 200 and r2.json() == body
    r3 = px.admin.post(f"/nominations/{n['id']}/withdraw")
    # approvals_count is shown to those who may read approvals (the admin), null for the nominator
    assert (body["approvals_count"], r3.json()["approvals_count"]) == (None, 0)
    assert r3.status_code == 200 and {**r3.json(), "approvals_count": None} == body
    rows = px.audit(entity_id=n["id"], action="nomination.withdraw")
    assert len(rows) == 1 and rows[0]["actor_id"] == emp.id
    assert rows[0]["payload"]["before"]["status"] == "pending"
    assert rows[0]["payload"]["after"]["status"] == "withdrawn"


def test_withdraw_permissions(px):
    team, manager = px.team_with_manager()
    emp, nominee = px.user(), px.user(team_id=team["id"])
    p, _ = px.published("after", "after")
    px.set_windows(p["id"], "open", "open")
    n = px.nominate(emp, p["id"], nominee.id)
    # approver (non-admin) sees it but may not withdraw
    assert_problem(manager.api.post(f"/nominations/{n['id']}/withdraw"), 403, "forbidden")
    assert_problem(px.user().api.post(f"/nominations/{n['id']}/withdraw"), 404, "not_found")
    assert_problem(nominee.api.post(f"/nominations/{n['id']}/withdraw"), 404, "not_found")
    # windows closed, cycle still published: withdrawing is allowed (admin)
    px.set_windows(p["id"], "after", "after")
    r = px.admin.post(f"/nominations/{n['id']}/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert px.audit(entity_id=n["id"], action="nomination.withdraw")[0]["actor_id"] != emp.id


# ---- visibility ---------------------------------------------------------------

def test_nomination_visibility_while_published(px):
    team, manager = px.team_with_manager()
    _other_team, other_manager = px.team_with_manager()
    emp, nominee = px.user(), px.user(team_id=team["id"])
    stranger = px.user(team_id=team["id"])
    p, _ = px.published()
    n = px.nominate(emp, p["id"], nominee.id)
    for who, count in ((emp.api, None), (px.admin, 0), (manager.api, 0)):
        r = who.get(f"/nominations/{n['id']}")
        assert r.status_code == 200 and r.json() == {**n, "approvals_count": count}
    for who in (nominee, stranger, other_manager):
        assert_problem(who.api.get(f"/nominations/{n['id']}"), 404, "not_found")
    path = f"/cycles/{p['id']}/nominations"
    assert [x["id"] for x in px.all_pages(emp.api, path)] == [n["id"]]
    assert [x["id"] for x in px.all_pages(manager.api, path)] == [n["id"]]
    assert px.all_pages(nominee.api, path) == []
    assert px.all_pages(stranger.api, path) == []
    assert px.all_pages(other_manager.api, path) == []
    assert [x["id"] for x in px.all_pages(px.admin, path)] == [n["id"]]
    # the nominee cannot learn of it through filters either
    assert px.all_pages(nominee.api, path, nominee_id=nominee.id) == []
    assert_problem(px.user().api.get(f"/nominations/{MISSING}"), 404, "not_found")


def test_nomination_list_filters_and_paging(px):
    p, _ = px.published()
    a, b = px.user(), px.user()
    nominees = [px.user() for _ in range(5)]
    made = [px.nominate(a, p["id"], u.id) for u in nominees]
    other = px.nominate(b, p["id"], nominees[0].id)
    a.api.post(f"/nominations/{made[4]['id']}/withdraw")
    path = f"/cycles/{p['id']}/nominations"
    first = px.admin.get(path, params={"limit": 2}).json()
    assert set(first) == PAGE_KEYS and len(first["items"]) == 2 and first["next_cursor"]
    everything = px.all_pages(px.admin, path, limit=2)
    assert sorted(x["id"] for x in everything) == sorted([m["id"] for m in made] + [other["id"]])
    assert {x["id"] for x in px.all_pages(px.admin, path, nominee_id=nominees[0].id)} == {made[0]["id"], other["id"]}
    assert {x["id"] for x in px.all_pages(px.admin, path, nominator_id=b.id)} == {other["id"]}
    assert {x["id"] for x in px.all_pages(px.admin, path, status="withdrawn")} == {made[4]["id"]}
    assert len(px.all_pages(px.admin, path, status="pending")) == 5
    assert_problem(px.admin.get(path, params={"status": "nope"}), 422, "validation_error")


def test_nominations_of_a_draft_are_404_for_non_admins(px):
    draft = px.cycle()
    assert_problem(px.user().api.get(f"/cycles/{draft['id']}/nominations"), 404, "not_found")


# ---- concurrency ---------------------------------------------------------------

def _race(px, base_url, nominator, cycle_id, nominee_ids):
    def one(i):
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            return http.post(f"/cycles/{cycle_id}/nominations",
                             headers={"Authorization": f"Bearer {nominator.token}"},
                             json={"nominee_id": nominee_ids[i], "justification": JUSTIFICATION})
    return concurrently(len(nominee_ids), one)


def test_sixteen_concurrent_duplicates_create_exactly_one(px, base_url):
    p, _ = px.published()
    emp, nominee = px.user(), px.user()
    results = _race(px, base_url, emp, p["id"], [nominee.id] * 16)
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1, [(r.status_code, r.text[:120]) for r in results]
    for r in results:
        if r.status_code != 201:
            assert_problem(r, 409, "duplicate_nomination")
    assert len(px.all_pages(px.admin, f"/cycles/{p['id']}/nominations")) == 1
    assert _count_audit(px, "nomination", "nomination.create", actor_id=emp.id) == 1


def test_sixteen_concurrent_nominations_respect_quota(px, base_url):
    p, _ = px.published(max_nominations_per_nominator=3)
    emp = px.user()
    nominees = [px.user().id for _ in range(16)]
    results = _race(px, base_url, emp, p["id"], nominees)
    assert sum(r.status_code == 201 for r in results) == 3, [(r.status_code, r.text[:120]) for r in results]
    for r in results:
        if r.status_code != 201:
            assert_problem(r, 409, "quota_exceeded")
    assert len(px.all_pages(px.admin, f"/cycles/{p['id']}/nominations")) == 3
    assert _count_audit(px, "nomination", "nomination.create", actor_id=emp.id) == 3
