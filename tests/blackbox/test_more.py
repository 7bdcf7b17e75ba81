"""Paging stability, renames, CSV quoting, windows at their edge, misc."""

import csv
import io
import time
from datetime import timedelta

from tests.blackbox.conftest import JUSTIFICATION, assert_problem, iso, now, uniq


def test_default_limit_is_50(px):
    for _ in range(51):
        px.team()
    body = px.admin.get("/teams").json()
    assert len(body["items"]) == 50 and body["next_cursor"]
    body = px.admin.get("/audit-logs").json()
    assert len(body["items"]) == 50 and body["next_cursor"]


def test_paging_small_pages_equals_big_pages(px):
    for path in ["/audit-logs", "/users", "/teams", "/cycles"]:
        big = px.all_pages(px.admin, path, limit=200)
        small = px.all_pages(px.admin, path, limit=7)
        # rows may have been added by nobody else meanwhile: same sequence, no duplicates
        assert [x["id"] for x in small] == [x["id"] for x in big], path
        assert len({x["id"] for x in small}) == len(small)


def test_audit_paging_with_filter_newest_first_across_pages(px):
    team = px.team()
    for i in range(5):
        px.admin.patch(f"/teams/{team['id']}", json={"name": f"N{i} {uniq()}"})
    rows = px.all_pages(px.admin, "/audit-logs", entity_id=team["id"], limit=1)
    assert len(rows) == 6
    assert [r["action"] for r in rows] == ["team.update"] * 5 + ["team.create"]
    assert [r["payload"]["after"]["name"] for r in rows[:5]] == [f"N{i}" for i in range(4, -1, -1)] or True
    names = [r["payload"]["after"]["name"].split()[0] for r in rows[:5]]
    assert names == ["N4", "N3", "N2", "N1", "N0"]


def test_rename_to_taken_name_is_duplicate(px):
    a, b = px.cycle(), px.cycle()
    assert_problem(px.admin.patch(f"/cycles/{b['id']}", json={"name": a["name"].lower()}), 409, "duplicate_name")
    x = px.criterion(a["id"], "Alpha", "0.5")
    y = px.criterion(a["id"], "Beta", "0.5")
    assert_problem(px.admin.patch(f"/criteria/{y['id']}", json={"name": "ALPHA"}), 409, "duplicate_name")
    assert px.admin.patch(f"/criteria/{x['id']}", json={"name": "alpha"}).status_code == 200  # own name, new case


def test_csv_quotes_awkward_names(px):
    """Commas and quotes are quoted; a leading `=` is neutralised with a `'`
    (names may not hold control characters such as a newline: API.md, Text)."""
    nominee = px.user(name='=Doe, "JJ" Jr')
    p, crits = px.published()
    n = px.nominate(px.user(), p["id"], nominee.id)
    px.approve(px.admin, n["id"], {crits[0]["id"]: 3})
    px.close(p["id"])
    px.finalize(p["id"])
    r = px.admin.get(f"/cycles/{p['id']}/results", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) == 2 and rows[1][2] == '\'=Doe, "JJ" Jr' and rows[1][5] == "3.000000"


def test_nomination_window_closes_at_its_bound(px):
    p, _ = px.published()
    nominator = px.user()
    closes = now() + timedelta(seconds=1.5)
    r = px.admin.patch(f"/cycles/{p['id']}", json={"nomination_closes_at": iso(closes)})
    assert r.status_code == 200 and r.json()["nominations_open"] is True
    assert nominator.api.post(f"/cycles/{p['id']}/nominations",
                              json={"nominee_id": px.user().id, "justification": JUSTIFICATION}).status_code == 201
    time.sleep(max(0.0, (closes - now()).total_seconds()) + 0.05)
    assert_problem(nominator.api.post(f"/cycles/{p['id']}/nominations",
                                      json={"nominee_id": px.user().id, "justification": JUSTIFICATION}),
                   409, "window_closed")
    assert px.admin.get(f"/cycles/{p['id']}").json()["nominations_open"] is False


def test_reopening_windows_of_published_cycle(px):
    p, _ = px.published("after", "after")
    assert p["nominations_open"] is False
    r = px.admin.patch(f"/cycles/{p['id']}", json={"nomination_closes_at": iso(now() + timedelta(hours=2)),
                                                   "approval_closes_at": iso(now() + timedelta(hours=3))})
    assert r.status_code == 200, r.text
    assert r.json()["nominations_open"] is True and r.json()["approvals_open"] is True


def test_withdrawn_nomination_cannot_be_edited(px):
    p, _ = px.published()
    nominator = px.user()
    n = px.nominate(nominator, p["id"], px.user().id)
    nominator.api.post(f"/nominations/{n['id']}/withdraw")
    assert_problem(nominator.api.patch(f"/nominations/{n['id']}", json={"justification": JUSTIFICATION + "!"}),
                   409, "nomination_state")


def test_archived_results_and_awards_stay_readable(px):
    nominee = px.user()
    p, crits = px.published(award_slots=1)
    n = px.nominate(px.user(), p["id"], nominee.id)
    px.approve(px.admin, n["id"], {crits[0]["id"]: 5})
    px.close(p["id"])
    px.finalize(p["id"])
    px.admin.post(f"/cycles/{p['id']}/archive")
    r = nominee.api.get(f"/cycles/{p['id']}/results")
    assert r.status_code == 200 and [x["nominee_id"] for x in r.json()["items"]] == [nominee.id]
    awards = nominee.api.get(f"/users/{nominee.id}/awards").json()["items"]
    assert [a["cycle_id"] for a in awards] == [p["id"]] and awards[0]["is_winner"] is True
    # the nominee still reads their approved nomination in an archived cycle
    assert nominee.api.get(f"/nominations/{n['id']}").status_code == 200


def test_lowercase_bearer_scheme_is_accepted(px):
    """RFC 9110 §11.1: the auth scheme is case-insensitive."""
    r = px.http.get("/users/me", headers={"Authorization": f"bearer {px.admin_token}"})
    assert r.status_code == 200


def test_unknown_route_code(px):
    assert_problem(px.admin.get("/nope"), 404, "not_found")


def test_form_encoded_body_is_422(px):
    r = px.admin.post("/teams", data={"name": "Form team"})
    assert_problem(r, 422, "validation_error")


def test_nominee_filters_cannot_reveal_hidden_nominations_after_finalization(px):
    nominee = px.user()
    p, crits = px.published()
    good = px.nominate(px.user(), p["id"], nominee.id)
    bad = px.nominate(px.user(), p["id"], nominee.id)
    pending = px.nominate(px.user(), p["id"], nominee.id)
    px.approve(px.admin, good["id"], {crits[0]["id"]: 4})
    px.reject(px.admin, bad["id"])
    px.close(p["id"])
    px.finalize(p["id"])
    path = f"/cycles/{p['id']}/nominations"
    assert [x["id"] for x in px.all_pages(nominee.api, path)] == [good["id"]]
    for status in ("pending", "rejected", "withdrawn"):
        assert px.all_pages(nominee.api, path, status=status) == []
    assert px.all_pages(nominee.api, path, nominator_id=bad["nominator_id"]) == []
    assert px.all_pages(nominee.api, path, nominator_id=pending["nominator_id"]) == []
    assert [x["id"] for x in px.all_pages(nominee.api, path, status="approved", nominee_id=nominee.id)] == [good["id"]]


def test_csv_team_filter(px):
    team = px.team()
    a, b = px.user(team_id=team["id"]), px.user()
    p, crits = px.published()
    for u, v in ((a, 4), (b, 5)):
        n = px.nominate(px.user(), p["id"], u.id)
        px.approve(px.admin, n["id"], {crits[0]["id"]: v})
    px.close(p["id"])
    px.finalize(p["id"])
    r = px.admin.get(f"/cycles/{p['id']}/results", params={"format": "csv", "team_id": team["id"]})
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [x[1] for x in rows[1:]] == [a.id] and rows[1][0] == "2" and rows[1][4] == team["name"]


def test_paging_with_identical_sort_values(px):
    tag = uniq()
    ids = set()
    for i in range(7):
        r = px.admin.post("/users", json={"email": f"same{i}.{tag}@example.org", "display_name": "Same Name",
                                          "role": "employee"})
        ids.add(r.json()["id"])
    for limit in (1, 2, 3):
        got = [u["id"] for u in px.all_pages(px.admin, "/users", q=tag, limit=limit)]
        assert len(got) == 7 and set(got) == ids, limit
