"""Finer points of the contract: no-op writes, nulls in PATCH bodies,
updated_at, JSON-number decimals, results keep the team at finalization."""

import time

from tests.blackbox.conftest import JUSTIFICATION, assert_problem, parse_utc, uniq


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
    assert px.admin.patch(f"/cycles/{c['id']}",
                          json={"nomination_opens_at": c["nomination_opens_at"]}).status_code == 200
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
    team, _manager = px.team_with_manager()
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
    _team, manager = px.team_with_manager()
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


def test_time_as_unix_number_is_422(px):
    """API.md: times are ISO 8601 with an offset on input; a bare number is not."""
    from tests.blackbox.conftest import windows
    for value in [1700000000, 1700000000.5, "1700000000"]:
        r = px.admin.post("/cycles", json={"name": f"C {uniq()}", **windows(), "nomination_opens_at": value})
        assert_problem(r, 422, "validation_error")


def test_token_expiry_as_unix_number_is_422(px):
    user = px.user()
    r = px.admin.post(f"/users/{user.id}/tokens", json={"name": "x", "expires_at": 4102444800})
    assert_problem(r, 422, "validation_error")


def test_iso_time_without_seconds_is_accepted(px):
    """'2031-03-01T10:00Z' is ISO 8601 with an offset (API.md: accepted)."""
    body = {"name": f"C {uniq()}", "nomination_opens_at": "2031-03-01T10:00Z",
            "nomination_closes_at": "2031-03-02T10:00+02:00", "approval_opens_at": "2031-03-01T10:00Z",
            "approval_closes_at": "2031-03-05T00:00Z"}
    r = px.admin.post("/cycles", json=body)
    assert r.status_code == 201, r.text
    assert parse_utc(r.json()["nomination_closes_at"]).isoformat() == "2031-03-02T08:00:00+00:00"


def test_audit_since_as_unix_number_is_422(px):
    assert_problem(px.admin.get("/audit-logs", params={"since": "1700000000"}), 422, "validation_error")


def test_criterion_field_limits(px):
    c = px.cycle()
    assert_problem(px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "x" * 101, "weight": "0.1"}), 422,
                   "validation_error")
    assert_problem(px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "", "weight": "0.1"}), 422,
                   "validation_error")
    assert_problem(px.admin.post(f"/cycles/{c['id']}/criteria",
                                 json={"name": "ok", "weight": "0.1", "description": "x" * 2001}),
                   422, "validation_error")
    assert_problem(px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "ok", "weight": "0.1", "position": 1.5}),
                   422, "validation_error")
    assert px.admin.post(f"/cycles/{c['id']}/criteria",
                         json={"name": "x" * 100, "weight": "0.1", "description": "x" * 2000}).status_code == 201


def test_justification_length_counts_after_trimming(px):
    p, _ = px.published()
    nominator = px.user()
    def post(j):
        return nominator.api.post(f"/cycles/{p['id']}/nominations",
                                  json={"nominee_id": px.user().id, "justification": j})

    assert_problem(post("   123456789   "), 422, "validation_error")
    assert post("  1234567890  ").status_code == 201
    assert post("   " + "y" * 5000 + "   ").status_code == 201


def test_more_precedence_edges(px):
    # approval: not_found (1) before cycle_state (2) for a stranger on a finalized cycle
    p, _crits = px.published()
    n = px.nominate(px.user(), p["id"], px.user().id)
    px.close(p["id"])
    px.finalize(p["id"])
    assert_problem(px.user().api.put(f"/nominations/{n['id']}/approval",
                                     json={"decision": "reject", "comment": "x"}), 404, "not_found")
    # nomination: an admin outside nominator_roles on a draft they can see: forbidden (2) before cycle_state (3)
    draft = px.cycle(nominator_roles=["employee"])
    assert_problem(px.admin.post(f"/cycles/{draft['id']}/nominations",
                                 json={"nominee_id": px.user().id, "justification": JUSTIFICATION}), 403, "forbidden")
    # nominator_roles changed on the published cycle takes effect
    q, _ = px.published()
    emp = px.user()
    assert px.admin.patch(f"/cycles/{q['id']}", json={"nominator_roles": ["manager"]}).status_code == 200
    assert_problem(emp.api.post(f"/cycles/{q['id']}/nominations",
                                json={"nominee_id": px.user().id, "justification": JUSTIFICATION}), 403, "forbidden")


def test_results_format_validation(px):
    p, _ = px.published()
    px.close(p["id"])
    px.finalize(p["id"])
    assert_problem(px.admin.get(f"/cycles/{p['id']}/results", params={"format": "xml"}), 422, "validation_error")
    r = px.admin.get(f"/cycles/{p['id']}/results", params={"format": "json"})
    assert r.status_code == 200 and r.json()["items"] == []


def test_pending_nomination_with_some_approvals_is_not_ranked(px):
    p, crits = px.published(required_approvals=2)
    a, b = px.user(), px.user()
    na = px.nominate(px.user(), p["id"], a.id)
    nb = px.nominate(px.user(), p["id"], b.id)
    px.approve(px.admin, na["id"], {crits[0]["id"]: 5})
    px.approve(px.admin, nb["id"], {crits[0]["id"]: 2})
    px.approve(px.user("admin").api, nb["id"], {crits[0]["id"]: 3})
    px.close(p["id"])
    res = px.finalize(p["id"])
    assert [(x["nominee_id"], x["score"], x["rank"], x["is_winner"]) for x in res["items"]] == [
        (b.id, "2.500000", 1, True)]


def test_json_number_weight_with_more_than_4_places_is_refused(px):
    """API.md: decimals are accepted as JSON numbers; DOMAIN.md: at most 4
    decimal places, exact decimal arithmetic. 0.50000000000000000001 (20
    places) and 0.99999999999999999 (17 places) must be refused, not read as
    0.5 and 1 after a float round trip."""
    c = px.cycle()
    for raw in [b"0.50000000000000000001", b"0.99999999999999999"]:
        r = px.admin.post(f"/cycles/{c['id']}/criteria", content=b'{"name": "W' + uniq().encode() + b'", "weight": '
                          + raw + b"}", headers={"Content-Type": "application/json"})
        assert_problem(r, 422, "validation_error")
