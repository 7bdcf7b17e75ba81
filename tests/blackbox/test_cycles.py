"""Cycles and criteria: shapes, defaults, decimals, times, status rules."""

from datetime import timedelta

from tests.blackbox.conftest import (
    CRITERION_KEYS,
    CYCLE_KEYS,
    PAGE_KEYS,
    assert_problem,
    iso,
    now,
    parse_utc,
    uniq,
    windows,
)


def test_create_cycle_defaults_and_shape(px):
    name = f"Cycle {uniq()}"
    r = px.admin.post("/cycles", json={"name": name, **windows()})
    assert r.status_code == 201, r.text
    c = r.json()
    assert set(c) == CYCLE_KEYS
    assert c["status"] == "draft" and c["name"] == name
    assert (c["rating_min"], c["rating_max"], c["required_approvals"], c["award_slots"]) == (1, 5, 1, 3)
    assert c["max_nominations_per_nominator"] is None
    assert sorted(c["nominator_roles"]) == ["admin", "employee", "manager", "team_lead"]
    assert c["nominations_open"] is False and c["approvals_open"] is False  # drafts are never open
    assert c["published_at"] is None and c["finalized_at"] is None and c["archived_at"] is None
    for key in ["nomination_opens_at", "nomination_closes_at", "approval_opens_at", "approval_closes_at",
                "created_at", "updated_at"]:
        parse_utc(c[key])
    assert px.admin.get(f"/cycles/{c['id']}").json() == c


def test_times_with_offset_come_back_in_utc(px):
    body = {
        "name": f"Cycle {uniq()}",
        "nomination_opens_at": "2031-03-01T10:00:00+02:00",
        "nomination_closes_at": "2031-03-02T10:00:00-05:00",
        "approval_opens_at": "2031-03-01T08:00:00Z",
        "approval_closes_at": "2031-03-05T00:00:00+00:00",
    }
    r = px.admin.post("/cycles", json=body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert parse_utc(c["nomination_opens_at"]).isoformat() == "2031-03-01T08:00:00+00:00"
    assert parse_utc(c["nomination_closes_at"]).isoformat() == "2031-03-02T15:00:00+00:00"
    assert parse_utc(c["approval_opens_at"]).isoformat() == "2031-03-01T08:00:00+00:00"


def test_time_without_offset_is_422(px):
    body = {"name": f"Cycle {uniq()}", **windows(), "nomination_opens_at": "2031-03-01T10:00:00"}
    assert_problem(px.admin.post("/cycles", json=body), 422, "validation_error")


def test_cycle_name_unique_case_insensitive(px):
    c = px.cycle()
    assert_problem(px.admin.post("/cycles", json={"name": c["name"].upper(), **windows()}), 409, "duplicate_name")


def test_invalid_windows(px):
    t = now()
    h = timedelta(hours=1)
    bad = [
        (t, t, t, t + h),                     # nomination opens == closes
        (t, t + h, t + h, t + h),             # approval opens == closes
        (t, t + h, t - h, t + 2 * h),         # approval opens before nomination opens
        (t, t + 2 * h, t, t + h),             # approval closes before nomination closes
    ]
    for no, nc, ao, ac in bad:
        body = {"name": f"Cycle {uniq()}", "nomination_opens_at": iso(no), "nomination_closes_at": iso(nc),
                "approval_opens_at": iso(ao), "approval_closes_at": iso(ac)}
        assert_problem(px.admin.post("/cycles", json=body), 422, "invalid_windows")
    # PATCH to break an invariant, draft and published
    c = px.cycle()
    assert_problem(px.admin.patch(f"/cycles/{c['id']}", json={"nomination_closes_at": iso(t - 3 * h)}), 422,
                   "invalid_windows")
    p, _ = px.published()
    assert_problem(px.admin.patch(f"/cycles/{p['id']}", json={"approval_closes_at": iso(t - 5 * h)}), 422,
                   "invalid_windows")
    assert px.admin.get(f"/cycles/{p['id']}").json() == p


def test_cycle_field_validation(px):
    base = {"name": f"Cycle {uniq()}", **windows()}
    for extra in [
        {"rating_min": 5, "rating_max": 5}, {"rating_min": -1}, {"rating_max": 101},
        {"required_approvals": 0}, {"required_approvals": 11}, {"award_slots": 0}, {"award_slots": 1001},
        {"max_nominations_per_nominator": 0}, {"nominator_roles": []}, {"nominator_roles": ["boss"]},
        {"name": ""}, {"name": "x" * 201}, {"description": "x" * 5001},
    ]:
        r = px.admin.post("/cycles", json={**base, **extra})
        assert r.status_code == 422, (extra, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_cycle_body_is_strict_about_server_owned_fields(px):
    base = {"name": f"Cycle {uniq()}", **windows()}
    for extra in [{"status": "published"}, {"published_at": iso(now())}, {"id": "00000000-0000-0000-0000-000000000000"},
                  {"nominations_open": True}, {"bogus": 1}]:
        assert_problem(px.admin.post("/cycles", json={**base, **extra}), 422, "validation_error")
    c = px.cycle()
    assert_problem(px.admin.patch(f"/cycles/{c['id']}", json={"status": "published"}), 422, "validation_error")
    assert px.admin.get(f"/cycles/{c['id']}").json()["status"] == "draft"


def test_only_admins_create_or_change_cycles(px):
    emp = px.user()
    c, _ = px.published()
    assert_problem(emp.api.post("/cycles", json={"name": f"Cycle {uniq()}", **windows()}), 403, "forbidden")
    assert_problem(emp.api.post("/cycles", json={"name": 5}), 403, "forbidden")  # precedence: 403 before 422
    assert_problem(emp.api.patch(f"/cycles/{c['id']}", json={"description": "x"}), 403, "forbidden")
    assert_problem(emp.api.post(f"/cycles/{c['id']}/publish"), 403, "forbidden")
    assert_problem(emp.api.delete(f"/cycles/{c['id']}"), 403, "forbidden")
    assert_problem(emp.api.post(f"/cycles/{c['id']}/criteria", json={"name": "A", "weight": 1}), 403, "forbidden")
    draft = px.cycle()  # invisible to them: 404 comes before 403 (API.md, Precedence)
    assert_problem(emp.api.patch(f"/cycles/{draft['id']}", json={"description": "x"}), 404, "not_found")
    assert_problem(emp.api.post(f"/cycles/{draft['id']}/publish"), 404, "not_found")


def test_drafts_are_404_for_non_admins(px):
    emp = px.user("manager")
    c = px.cycle()
    px.criterion(c["id"], "A", "1")
    assert_problem(emp.api.get(f"/cycles/{c['id']}"), 404, "not_found")
    assert_problem(emp.api.get(f"/cycles/{c['id']}/criteria"), 404, "not_found")
    assert_problem(emp.api.get(f"/cycles/{c['id']}/results"), 404, "not_found")
    assert c["id"] not in {x["id"] for x in emp.api.get("/cycles", params={"status": "draft"}).json()["items"]}
    assert c["id"] in {x["id"] for x in px.all_pages(px.admin, "/cycles", status="draft")}


def test_criteria_weights_as_strings_and_order(px):
    c = px.cycle()
    r = px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "Zeta", "weight": 0.25, "position": 1})
    assert r.status_code == 201, r.text
    z = r.json()
    assert set(z) == CRITERION_KEYS and z["weight"] == "0.2500" and z["cycle_id"] == c["id"]
    r = px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "alpha", "weight": "0.5", "position": 1})
    assert r.status_code == 201 and r.json()["weight"] == "0.5000"
    r = px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "Omega", "weight": "0.25", "position": 0})
    assert r.status_code == 201
    items = px.admin.get(f"/cycles/{c['id']}/criteria").json()
    assert set(items) == {"items"}
    assert [x["name"] for x in items["items"]] == ["Omega", "alpha", "Zeta"]
    assert_problem(px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": "ZETA", "weight": "0.1"}), 409,
                   "duplicate_name")
    for w in [0, "0", -0.1, 1.0001, "0.12345", "abc", "NaN", "Infinity", "1e400"]:
        r = px.admin.post(f"/cycles/{c['id']}/criteria", json={"name": f"W{uniq()}", "weight": w})
        assert_problem(r, 422, "validation_error")
    assert_problem(px.admin.post(f"/cycles/{c['id']}/criteria",
                                 json={"name": "x", "weight": "0.1", "cycle_id": c["id"]}),
                   422, "validation_error")


def test_patch_and_delete_criterion_on_draft(px):
    c = px.cycle()
    a = px.criterion(c["id"], "A", "0.5")
    r = px.admin.patch(f"/criteria/{a['id']}", json={"weight": "1", "description": "All of it"})
    assert r.status_code == 200, r.text
    assert r.json()["weight"] == "1.0000" and r.json()["description"] == "All of it"
    assert set(r.json()) == CRITERION_KEYS
    assert px.admin.delete(f"/criteria/{a['id']}").status_code == 204
    assert px.admin.get(f"/cycles/{c['id']}/criteria").json() == {"items": []}
    assert_problem(px.admin.delete(f"/criteria/{a['id']}"), 404, "not_found")


def test_replace_criteria_atomically(px):
    c = px.cycle()
    old = px.criterion(c["id"], "Old", "1")
    r = px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": [{"name": "A", "weight": "0.3333"},
                                                                       {"name": "B", "weight": "0.3333"}]})
    body = assert_problem(r, 409, "weights_invalid")
    assert "0.6666" in body["detail"]
    assert [x["id"] for x in px.admin.get(f"/cycles/{c['id']}/criteria").json()["items"]] == [old["id"]]
    r = px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": [
        {"name": "A", "weight": "0.3333", "position": 2},
        {"name": "B", "weight": "0.3333", "position": 1, "description": "b"},
        {"name": "C", "weight": 0.3334, "position": 3},
    ]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert set(r.json()) == {"items"}
    assert [x["name"] for x in items] == ["B", "A", "C"]
    assert [x["weight"] for x in items] == ["0.3333", "0.3333", "0.3334"]
    assert all(set(x) == CRITERION_KEYS for x in items)
    assert px.admin.get(f"/cycles/{c['id']}/criteria").json()["items"] == items
    # duplicate names within the new set
    r = px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": [{"name": "X", "weight": "0.5"},
                                                                       {"name": "x", "weight": "0.5"}]})
    assert r.status_code in (409, 422) and r.json()["code"] in ("duplicate_name", "validation_error")
    r = px.admin.put(f"/cycles/{c['id']}/criteria", json={"items": [{"name": "X", "weight": "1", "id": old["id"]}]})
    assert_problem(r, 422, "validation_error")


def test_publish_requires_weights_summing_to_one(px):
    c = px.cycle()
    assert_problem(px.admin.post(f"/cycles/{c['id']}/publish"), 409, "weights_invalid")
    px.criterion(c["id"], "A", "0.5")
    px.criterion(c["id"], "B", "0.4999")
    body = assert_problem(px.admin.post(f"/cycles/{c['id']}/publish"), 409, "weights_invalid")
    assert "0.9999" in body["detail"]
    assert px.admin.get(f"/cycles/{c['id']}").json()["status"] == "draft"
    px.criterion(c["id"], "C", "0.0001")
    r = px.admin.post(f"/cycles/{c['id']}/publish")
    assert r.status_code == 200, r.text
    p = r.json()
    assert set(p) == CYCLE_KEYS and p["status"] == "published"
    parse_utc(p["published_at"])
    assert p["nominations_open"] is True and p["approvals_open"] is True
    assert_problem(px.admin.post(f"/cycles/{c['id']}/publish"), 409, "cycle_state")


def test_open_flags_follow_windows(px):
    p, _ = px.published("open", "before")
    assert (p["nominations_open"], p["approvals_open"]) == (True, False)
    p = px.set_windows(p["id"], "after", "open")
    assert (p["nominations_open"], p["approvals_open"]) == (False, True)
    p = px.set_windows(p["id"], "before", "before")
    assert (p["nominations_open"], p["approvals_open"]) == (False, False)


def test_published_cycle_edit_rules(px):
    p, crits = px.published()
    r = px.admin.patch(f"/cycles/{p['id']}", json={"description": "Updated", "award_slots": 7,
                                                    "nominator_roles": ["manager", "admin"]})
    assert r.status_code == 200, r.text
    assert (r.json()["description"], r.json()["award_slots"]) == ("Updated", 7)
    assert sorted(r.json()["nominator_roles"]) == ["admin", "manager"]
    for field, value in [("name", f"New {uniq()}"), ("rating_max", 10), ("required_approvals", 2),
                         ("max_nominations_per_nominator", 3), ("rating_min", 0)]:
        assert_problem(px.admin.patch(f"/cycles/{p['id']}", json={field: value}), 409, "cycle_state")
    assert_problem(px.admin.post(f"/cycles/{p['id']}/criteria", json={"name": "New", "weight": "0.1"}), 409,
                   "cycle_state")
    assert_problem(px.admin.patch(f"/criteria/{crits[0]['id']}", json={"weight": "1"}), 409, "cycle_state")
    assert_problem(px.admin.delete(f"/criteria/{crits[0]['id']}"), 409, "cycle_state")
    assert_problem(px.admin.put(f"/cycles/{p['id']}/criteria", json={"items": [{"name": "Z", "weight": 1}]}), 409,
                   "cycle_state")
    assert_problem(px.admin.delete(f"/cycles/{p['id']}"), 409, "cycle_state")
    assert_problem(px.admin.post(f"/cycles/{p['id']}/archive"), 409, "cycle_state")
    assert_problem(px.admin.get(f"/cycles/{p['id']}/results"), 409, "not_finalized")
    assert_problem(px.admin.post(f"/cycles/{p['id']}/finalize"), 409, "approvals_open")


def test_delete_draft(px):
    c = px.cycle()
    px.criterion(c["id"], "A", "1")
    r = px.admin.delete(f"/cycles/{c['id']}")
    assert r.status_code == 204 and r.content == b""
    assert_problem(px.admin.get(f"/cycles/{c['id']}"), 404, "not_found")
    assert_problem(px.admin.delete(f"/cycles/{c['id']}"), 404, "not_found")


def test_draft_actions_that_need_published(px):
    c = px.cycle()
    assert_problem(px.admin.post(f"/cycles/{c['id']}/finalize"), 409, "cycle_state")
    assert_problem(px.admin.post(f"/cycles/{c['id']}/archive"), 409, "cycle_state")
    assert_problem(px.admin.get(f"/cycles/{c['id']}/preview"), 409, "cycle_state")


def test_cycle_list_status_filter_and_paging(px):
    mine = {px.cycle()["id"] for _ in range(3)}
    emp = px.user()
    first = px.admin.get("/cycles", params={"status": "draft", "limit": 2}).json()
    assert set(first) == PAGE_KEYS and len(first["items"]) == 2 and first["next_cursor"]
    assert all(set(c) == CYCLE_KEYS for c in first["items"])
    drafts = px.all_pages(px.admin, "/cycles", status="draft", limit=2)
    ids = [c["id"] for c in drafts]
    assert len(ids) == len(set(ids)) and mine <= set(ids)
    assert all(c["status"] == "draft" for c in drafts)
    published = px.all_pages(emp.api, "/cycles", limit=3)
    assert all(c["status"] in ("published", "finalized") for c in published)
    assert_problem(px.admin.get("/cycles", params={"status": "bogus"}), 422, "validation_error")


def test_preview_is_admin_only(px):
    p, _ = px.published()
    emp = px.user()
    assert_problem(emp.api.get(f"/cycles/{p['id']}/preview"), 403, "forbidden")
    r = px.admin.get(f"/cycles/{p['id']}/preview")
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["cycle_id"] == p["id"]
