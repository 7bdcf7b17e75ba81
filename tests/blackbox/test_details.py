"""Finer points of the contract: no-op writes, nulls in PATCH bodies,
updated_at, JSON-number decimals, results keep the team at finalization."""

from tests.blackbox.conftest import assert_problem, parse_utc, uniq

import time


def test_identical_approval_resubmit_writes_no_audit_row(px):
    """DOMAIN.md: a call that changes nothing writes no audit row."""
    p, crits = px.published()
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, p["id"], nominee.id)
    body = {"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": 4}]}
    assert px.admin.put(f"/nominations/{n['id']}/approval", json=body).status_code == 201
    r = px.admin.put(f"/nominations/{n['id']}/approval", json=body)
    assert r.status_code == 200
    assert len(px.audit(entity_type="approval", entity_id=r.json()["id"])) == 1


def test_no_op_patches_write_no_audit_rows(px):
    c = px.cycle(description="Same")
    assert px.admin.patch(f"/cycles/{c['id']}", json={"description": "Same"}).status_code == 200
    assert px.admin.patch(f"/cycles/{c['id']}", json={"nomination_opens_at": c["nomination_opens_at"]}).status_code == 200
    crit = px.criterion(c["id"], "A", "1")
    assert px.admin.patch(f"/criteria/{crit['id']}", json={"weight": "1.0"}).status_code == 200
    assert px.admin.patch(f"/criteria/{crit['id']}", json={"name": "A"}).status_code == 200
    assert [x["action"] for x in px.audit(entity_id=c["id"])] == ["cycle.create"]
    assert [x["action"] for x in px.audit(entity_id=crit["id"])] == ["criterion.create"]
    assert px.admin.post(f"/cycles/{c['id']}/publish").status_code == 200
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, c["id"], nominee.id)
    assert nominator.api.patch(f"/nominations/{n['id']}", json={"justification": n["justification"]}).status_code == 200
    assert [x["action"] for x in px.audit(entity_id=n["id"])] == ["nomination.create"]


def test_null_for_required_fields_in_patch_is_422(px):
    c = px.cycle()
    crit = px.criterion(c["id"], "A", "1")
    user = px.user()
    team = px.team()
    for field in ["name", "award_slots", "rating_min", "rating_max", "required_approvals", "nominator_roles",
                  "nomination_opens_at", "approval_closes_at"]:
        assert_problem(px.admin.patch(f"/cycles/{c['id']}", json={field: None}), 422, "validation_error")
    for field in ["display_name", "role", "is_active"]:
        assert_problem(px.admin.patch(f"/users/{user.id}", json={field: None}), 422, "validation_error")
    assert_problem(px.admin.patch(f"/teams/{team['id']}", json={"name": None}), 422, "validation_error")
    for field in ["name", "weight"]:
        assert_problem(px.admin.patch(f"/criteria/{crit['id']}", json={field: None}), 422, "validation_error")
    # nullable ones are fine
    r = px.admin.patch(f"/cycles/{c['id']}", json={"max_nominations_per_nominator": 2})
    assert r.status_code == 200 and r.json()["max_nominations_per_nominator"] == 2
    r = px.admin.patch(f"/cycles/{c['id']}", json={"max_nominations_per_nominator": None})
    assert r.status_code == 200 and r.json()["max_nominations_per_nominator"] is None
    r = px.admin.patch(f"/users/{user.id}", json={"team_id": team["id"]})
    assert r.json()["team_id"] == team["id"]
    r = px.admin.patch(f"/users/{user.id}", json={"team_id": None})
    assert r.status_code == 200 and r.json()["team_id"] is None
    p, _ = px.published()
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, p["id"], nominee.id)
    assert_problem(nominator.api.patch(f"/nominations/{n['id']}", json={"justification": None}), 422,
                   "validation_error")
    assert_problem(nominator.api.patch(f"/nominations/{n['id']}", json={}), 422, "validation_error")


def test_draft_cycle_every_field_editable(px):
    c = px.cycle()
    new = {"name": f"Renamed {uniq()}", "rating_min": 0, "rating_max": 10, "required_approvals": 3,
           "max_nominations_per_nominator": 4, "award_slots": 9, "nominator_roles": ["admin"],
           "description": "d"}
    r = px.admin.patch(f"/cycles/{c['id']}", json=new)
    assert r.status_code == 200, r.text
    body = r.json()
    for k, v in new.items():
        assert body[k] == v, k
    assert parse_utc(body["updated_at"]) > parse_utc(c["updated_at"])
    assert_problem(px.admin.patch(f"/cycles/{c['id']}", json={"rating_min": 10}), 422, "validation_error")


def test_updated_at_moves_on_nomination_edit(px):
    p, _ = px.published()
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, p["id"], nominee.id)
    time.sleep(0.01)
    r = nominator.api.patch(f"/nominations/{n['id']}", json={"justification": "Another fine justification."})
    assert parse_utc(r.json()["updated_at"]) > parse_utc(n["updated_at"])
    assert r.json()["created_at"] == n["created_at"]


def test_json_number_weights_are_exact(px):
    c = px.cycle()
    for name, w in [("A", 0.1), ("B", 0.2), ("C", 0.7)]:
        r = px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": name, "weight": w})
        assert r.status_code == 201, r.text
    weights = [x["weight"] for x in px.admin.get(f"/cycles/{c['id']}/criteria").json()["items"]]
    assert sorted(weights) == ["0.1000", "0.2000", "0.7000"]
    assert px.admin.post(f"/cycles/{c['id']}/publish").status_code == 200


def test_approval_replace_replaces_ratings(px):
    p, crits = px.published(criteria=(("A", "0.5"), ("B", "0.5")))
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, p["id"], nominee.id)
    a = px.approve(px.admin, n["id"], {crits[0]["id"]: 1, crits[1]["id"]: 2})
    b = px.approve(px.admin, n["id"], {crits[0]["id"]: 5, crits[1]["id"]: 4})
    assert a["id"] == b["id"] and a["created_at"] == b["created_at"]
    assert parse_utc(b["updated_at"]) >= parse_utc(a["updated_at"])
    got = px.admin.get(f"/nominations/{n['id']}/approvals").json()["items"]
    assert len(got) == 1
    assert sorted((x["criterion_id"], x["value"]) for x in got[0]["ratings"]) == sorted(
        [(crits[0]["id"], 5), (crits[1]["id"], 4)])
    preview = px.admin.get(f"/cycles/{p['id']}/preview").json()
    assert preview["items"][0]["score"] == "4.500000"
    assert preview["finalized_at"] is None


def test_results_keep_team_at_finalization(px):
    team, manager = px.team_with_manager()
    team2 = px.team()
    nominee = px.user(team_id=team["id"])
    p, crits = px.published(award_slots=1)
    n = px.nominate(px.user(), p["id"], nominee.id)
    px.approve(px.admin, n["id"], {crits[0]["id"]: 4})
    px.close(p["id"])
    res = px.finalize(p["id"])
    assert res["items"][0]["team_id"] == team["id"]
    assert px.admin.patch(f"/users/{nominee.id}", json={"team_id": team2["id"]}).status_code == 200
    after = px.admin.get(f"/cycles/{p['id']}/results").json()
    assert after == res
    by_old = px.admin.get(f"/cycles/{p['id']}/results", params={"team_id": team["id"]}).json()["items"]
    assert [x["nominee_id"] for x in by_old] == [nominee.id]
    assert px.admin.get(f"/cycles/{p['id']}/results", params={"team_id": team2["id"]}).json()["items"] == []


def test_nominee_in_approver_role_cannot_approve_about_self(px):
    """A manager nominated within the team they manage: never approves it."""
    team, manager = px.team_with_manager()
    p, crits = px.published()
    n = px.nominate(px.user(), p["id"], manager.id)
    r = manager.api.put(f"/nominations/{n['id']}/approval",
                        json={"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": 5}]})
    assert r.status_code in (403, 404) and r.json()["code"] in ("conflict_of_interest", "not_found"), r.text
    assert px.admin.get(f"/nominations/{n['id']}/approvals").json()["items"] == []


def test_token_with_past_expiry(px):
    user = px.user()
    r = px.admin.post(f"/users/{user.id}/tokens", json={"name": "old", "expires_at": "2000-01-01T00:00:00Z"})
    if r.status_code == 201:
        r2 = px.as_(r.json()["token"]).get("/users/me")
        assert_problem(r2, 401, "unauthenticated")
    else:
        assert_problem(r, 422)
