"""Scoring, ranking, finalize, results, CSV, archive and award history.

The main scenario's ranking is computed by hand (see the module fixture's
docstring); rounding is half-up to 6 places and ranks are competition ranks.
"""

import csv
import io

import httpx
import pytest

from tests.blackbox.conftest import (
    AWARD_KEYS,
    CYCLE_KEYS,
    NOMINATION_KEYS,
    RESULT_CRITERION_KEYS,
    RESULT_ITEM_KEYS,
    RESULTS_KEYS,
    assert_problem,
    concurrently,
    parse_utc,
    uniq,
)

CSV_COLUMNS = ["rank", "nominee_id", "nominee_name", "nominee_email", "team_name", "score",
               "approved_nominations", "is_winner"]


class Scenario:
    pass


@pytest.fixture(scope="module")
def sc(px):
    """Criteria Impact 0.9999 and Craft 0.0001, scale 1..5, one required
    approval, one award slot.  Ratings are (Impact, Craft) per approver.

    - Pat: two nominations, four approvals each:
      n1 Impact [1,1,1,1] Craft [1,1,1,2] -> means 1, 1.25;  n2 all 1 -> 1, 1.
      criterion means 1 and 1.125; score 0.9999 + 0.0001125 = 1.0000125
      -> "1.000013" (half-up; half-even would give 1.000012).
    - Zed and Amy: one nomination, one approval (5, 5) -> 5.000000; tie, rank 1,
      listed Amy then Zed; both winners although there is only one slot.
    - Sam: two nominations, each three approvals [1,2,2] on both criteria:
      5/3 -> "1.666667" (rounded up), approved 2 -> rank 3.
    - Tom: one nomination, three approvals [1,2,2] -> 5/3, approved 1.
    - Tia: one nomination, six approvals [1,1,2,2,2,2] -> 10/6 = 5/3, approved 1:
      equal to Tom after rounding -> shared rank 4, listed Tia then Tom.
    - Pat is rank 6.
    - Uma: approved by one admin, rejected by another -> rejected, not ranked.
    - Vic: pending (no approvals) -> not ranked.
    - Wes: approved then withdrawn -> not ranked.
    """
    s = Scenario()
    tag = uniq()
    s.team, s.manager = px.team_with_manager()
    s.other_manager = px.team_with_manager()[1]
    s.admins = [px.user("admin") for _ in range(6)]
    s.n1, s.n2 = px.user(), px.user()
    def mk(name, team=None):
        return px.user(name=f"{name} {tag}", team_id=team)

    s.pat = mk("Pat", s.team["id"])
    s.zed = mk("Zed", s.team["id"])
    s.amy, s.sam, s.tom, s.tia, s.uma, s.vic, s.wes = (mk(n) for n in ["Amy", "Sam", "Tom", "Tia", "Uma", "Vic", "Wes"])
    s.cycle, crits = px.published(criteria=(("Impact", "0.9999"), ("Craft", "0.0001")), award_slots=1)
    s.impact, s.craft = crits
    cid = s.cycle["id"]

    def rate(nom, pairs):
        for admin, (i, c) in zip(s.admins, pairs, strict=False):
            px.approve(admin.api, nom["id"], {s.impact["id"]: i, s.craft["id"]: c})

    s.pat1 = px.nominate(s.n1, cid, s.pat.id)
    s.pat2 = px.nominate(s.n2, cid, s.pat.id)
    rate(s.pat1, [(1, 1), (1, 1), (1, 1), (1, 2)])
    rate(s.pat2, [(1, 1)] * 4)
    rate(px.nominate(s.n1, cid, s.zed.id), [(5, 5)])
    rate(px.nominate(s.n2, cid, s.amy.id), [(5, 5)])
    rate(px.nominate(s.n1, cid, s.sam.id), [(1, 1), (2, 2), (2, 2)])
    rate(px.nominate(s.n2, cid, s.sam.id), [(2, 2), (1, 1), (2, 2)])
    rate(px.nominate(s.n1, cid, s.tom.id), [(1, 1), (2, 2), (2, 2)])
    rate(px.nominate(s.n1, cid, s.tia.id), [(1, 1), (1, 1), (2, 2), (2, 2), (2, 2), (2, 2)])
    s.uma_nom = px.nominate(s.n1, cid, s.uma.id)
    px.approve(s.admins[0].api, s.uma_nom["id"], {s.impact["id"]: 5, s.craft["id"]: 5})
    px.reject(s.admins[1].api, s.uma_nom["id"])
    s.vic_nom = px.nominate(s.n1, cid, s.vic.id)
    s.wes_nom = px.nominate(s.n1, cid, s.wes.id)
    px.approve(s.admins[0].api, s.wes_nom["id"], {s.impact["id"]: 5, s.craft["id"]: 5})
    assert s.n1.api.post(f"/nominations/{s.wes_nom['id']}/withdraw").status_code == 200

    s.not_finalized_admin = px.admin.get(f"/cycles/{cid}/results")
    s.not_finalized_user = s.n1.api.get(f"/cycles/{cid}/results")
    s.preview = px.admin.get(f"/cycles/{cid}/preview")
    s.early_finalize = px.admin.post(f"/cycles/{cid}/finalize")
    px.close(cid)
    s.first = px.admin.post(f"/cycles/{cid}/finalize")
    s.second = px.admin.post(f"/cycles/{cid}/finalize")
    return s


def _expected(sc):
    impact, craft = sc.impact["id"], sc.craft["id"]

    def crit(i_mean, c_mean):
        return {impact: ("Impact", "0.9999", i_mean), craft: ("Craft", "0.0001", c_mean)}

    five, third = "5.000000", "1.666667"
    return [
        (1, sc.amy, "5.000000", 1, True, crit(five, five)),
        (1, sc.zed, "5.000000", 1, True, crit(five, five)),
        (3, sc.sam, "1.666667", 2, False, crit(third, third)),
        (4, sc.tia, "1.666667", 1, False, crit(third, third)),
        (4, sc.tom, "1.666667", 1, False, crit(third, third)),
        (6, sc.pat, "1.000013", 2, False, crit("1.000000", "1.125000")),
    ]


def _check_items(sc, items):
    expected = _expected(sc)
    got = [(x["rank"], x["nominee_name"], x["score"], x["approved_nominations"], x["is_winner"]) for x in items]
    want = [(r, p.name, s, a, w) for r, p, s, a, w, _ in expected]
    assert got == want
    for item, (_, person, *_, crits) in zip(items, expected, strict=True):
        assert set(item) == RESULT_ITEM_KEYS
        assert item["nominee_id"] == person.id and item["team_id"] == person.user["team_id"]
        assert all(set(c) == RESULT_CRITERION_KEYS for c in item["criteria"])
        assert {c["criterion_id"]: (c["name"], c["weight"], c["mean"]) for c in item["criteria"]} == crits


def test_results_before_finalization_are_not_finalized(sc):
    assert_problem(sc.not_finalized_admin, 409, "not_finalized")
    assert_problem(sc.not_finalized_user, 409, "not_finalized")


def test_finalize_before_approval_window_closed_is_approvals_open(sc):
    assert_problem(sc.early_finalize, 409, "approvals_open")


def test_preview_shows_the_live_ranking(sc):
    assert sc.preview.status_code == 200, sc.preview.text
    body = sc.preview.json()
    assert set(body) == RESULTS_KEYS and body["cycle_id"] == sc.cycle["id"] and body["award_slots"] == 1
    _check_items(sc, body["items"])


def test_finalize_hand_computed_ranking(sc):
    assert sc.first.status_code == 200, sc.first.text
    body = sc.first.json()
    assert set(body) == RESULTS_KEYS
    assert body["cycle_id"] == sc.cycle["id"] and body["award_slots"] == 1
    assert body["cycle_name"] == sc.cycle["name"]
    assert body["pending_nominations"] == 1  # Vic's; Uma's is rejected, Wes's withdrawn
    parse_utc(body["finalized_at"])
    _check_items(sc, body["items"])


def test_finalize_is_idempotent_with_identical_body(px, sc):
    assert sc.second.status_code == 200
    assert sc.second.json() == sc.first.json()
    rows = px.audit(entity_type="cycle", entity_id=sc.cycle["id"], action="cycle.finalize")
    assert len(rows) == 1 and rows[0]["actor_id"] is not None
    cycle = px.admin.get(f"/cycles/{sc.cycle['id']}").json()
    assert (cycle["status"] == "finalized"
            and parse_utc(cycle["finalized_at"]) == parse_utc(sc.first.json()["finalized_at"]))
    assert cycle["nominations_open"] is False and cycle["approvals_open"] is False


def test_results_admin_full_and_non_admin_winners_only(px, sc):
    r = px.admin.get(f"/cycles/{sc.cycle['id']}/results")
    assert r.status_code == 200 and r.json() == sc.first.json()
    for who in (sc.n1, sc.pat, sc.amy, px.user()):
        r = who.api.get(f"/cycles/{sc.cycle['id']}/results")
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == RESULTS_KEYS
        assert [x["nominee_id"] for x in body["items"]] == [sc.amy.id, sc.zed.id]
        assert all(x["is_winner"] for x in body["items"])


def test_results_team_filter(px, sc):
    r = px.admin.get(f"/cycles/{sc.cycle['id']}/results", params={"team_id": sc.team["id"]})
    assert r.status_code == 200
    assert [(x["rank"], x["nominee_id"]) for x in r.json()["items"]] == [(1, sc.zed.id), (6, sc.pat.id)]
    r = sc.n1.api.get(f"/cycles/{sc.cycle['id']}/results", params={"team_id": sc.team["id"]})
    assert [x["nominee_id"] for x in r.json()["items"]] == [sc.zed.id]


def test_results_csv(px, sc):
    r = px.admin.get(f"/cycles/{sc.cycle['id']}/results", params={"format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == "text/csv"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [*CSV_COLUMNS, "Impact", "Craft"]
    body = rows[1:]
    assert [(x[0], x[1], x[2], x[5], x[6]) for x in body] == [
        (str(rank), p.id, p.name, score, str(n)) for rank, p, score, n, _, _ in _expected(sc)
    ]
    emails = {x[1]: x[3] for x in body}
    assert emails[sc.pat.id] == sc.pat.user["email"]
    teams = {x[1]: x[4] for x in body}
    assert teams[sc.pat.id] == sc.team["name"] and teams[sc.amy.id] == ""
    winners = {x[1] for x in body if x[7].lower() in ("true", "1", "yes")}
    assert winners == {sc.amy.id, sc.zed.id}
    r = sc.n1.api.get(f"/cycles/{sc.cycle['id']}/results", params={"format": "csv"})
    assert_problem(r, 403, "forbidden")


def test_cycle_is_read_only_after_finalization(px, sc):
    cid = sc.cycle["id"]
    before = px.admin.get(f"/cycles/{cid}").json()
    assert_problem(px.admin.patch(f"/cycles/{cid}", json={"description": "late"}), 409, "cycle_state")
    assert_problem(px.admin.patch(f"/cycles/{cid}", json={"award_slots": 5}), 409, "cycle_state")
    assert_problem(px.admin.post(f"/cycles/{cid}/publish"), 409, "cycle_state")
    assert_problem(px.admin.delete(f"/cycles/{cid}"), 409, "cycle_state")
    assert_problem(px.admin.get(f"/cycles/{cid}/preview"), 409, "cycle_state")
    assert_problem(px.admin.post(f"/cycles/{cid}/criteria", json={"name": "Late", "weight": "0.1"}), 409, "cycle_state")
    assert_problem(px.admin.patch(f"/criteria/{sc.impact['id']}", json={"description": "x"}), 409, "cycle_state")
    assert_problem(px.admin.delete(f"/criteria/{sc.impact['id']}"), 409, "cycle_state")
    assert_problem(sc.n1.api.post(f"/cycles/{cid}/nominations",
                                  json={"nominee_id": sc.vic.id, "justification": "Another one, please."}),
                   409, "cycle_state")
    assert_problem(sc.n1.api.patch(f"/nominations/{sc.vic_nom['id']}", json={"justification": "Changed it after."}),
                   409, "cycle_state")
    assert_problem(sc.n1.api.post(f"/nominations/{sc.vic_nom['id']}/withdraw"), 409, "cycle_state")
    assert_problem(px.admin.put(f"/nominations/{sc.vic_nom['id']}/approval",
                                json={"decision": "reject", "comment": "late"}), 409, "cycle_state")
    assert px.admin.get(f"/cycles/{cid}").json() == before


def test_nominee_sees_only_approved_nominations_after_finalization(px, sc):
    for nom in (sc.pat1, sc.pat2):
        r = sc.pat.api.get(f"/nominations/{nom['id']}")
        assert r.status_code == 200, r.text
        assert set(r.json()) == NOMINATION_KEYS and r.json()["status"] == "approved"
        assert r.json()["justification"] == nom["justification"]
        # never approvals or ratings (the nomination itself is visible to them, so 403 leaks nothing)
        r = sc.pat.api.get(f"/nominations/{nom['id']}/approvals")
        assert r.status_code in (403, 404) and "ratings" not in r.text, r.text
    listed = px.all_pages(sc.pat.api, f"/cycles/{sc.cycle['id']}/nominations")
    assert sorted(x["id"] for x in listed) == sorted([sc.pat1["id"], sc.pat2["id"]])
    assert_problem(sc.uma.api.get(f"/nominations/{sc.uma_nom['id']}"), 404, "not_found")
    assert_problem(sc.vic.api.get(f"/nominations/{sc.vic_nom['id']}"), 404, "not_found")
    assert_problem(sc.wes.api.get(f"/nominations/{sc.wes_nom['id']}"), 404, "not_found")
    assert px.all_pages(sc.uma.api, f"/cycles/{sc.cycle['id']}/nominations") == []
    # others still 404
    assert_problem(sc.zed.api.get(f"/nominations/{sc.pat1['id']}"), 404, "not_found")


def _small_finalized(px, nominee_ids, award_slots=3, finalize=True):
    p, crits = px.published(criteria=(("Impact", "1"),), award_slots=award_slots)
    nominator = px.user()
    for i, uid in enumerate(nominee_ids):
        n = px.nominate(nominator, p["id"], uid)
        px.approve(px.admin, n["id"], {crits[0]["id"]: 5 - i})
    px.close(p["id"])
    if finalize:
        px.finalize(p["id"])
    return p


def test_racing_finalize_returns_identical_bodies(px, base_url):
    a, b, c = px.user(), px.user(), px.user()
    p = _small_finalized(px, [a.id, b.id, c.id], finalize=False)

    def one(i):
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            return http.post(f"/cycles/{p['id']}/finalize", headers={"Authorization": f"Bearer {px.admin_token}"})

    results = concurrently(8, one)
    assert all(r.status_code == 200 for r in results), [(r.status_code, r.text[:200]) for r in results]
    bodies = [r.json() for r in results]
    assert all(b == bodies[0] for b in bodies)
    assert [x["nominee_id"] for x in bodies[0]["items"]] == [a.id, b.id, c.id]
    assert [x["score"] for x in bodies[0]["items"]] == ["5.000000", "4.000000", "3.000000"]
    assert len(px.audit(entity_type="cycle", entity_id=p["id"], action="cycle.finalize")) == 1


def test_finalize_with_nothing_approved(px):
    p, _ = px.published()
    px.close(p["id"])
    body = px.finalize(p["id"])
    assert body["items"] == [] and body["cycle_id"] == p["id"]


def test_archive(px):
    a = px.user()
    p = _small_finalized(px, [a.id])
    results = px.admin.get(f"/cycles/{p['id']}/results").json()
    assert_problem(a.api.post(f"/cycles/{p['id']}/archive"), 403, "forbidden")
    r = px.admin.post(f"/cycles/{p['id']}/archive")
    assert r.status_code == 200, r.text
    c = r.json()
    assert set(c) == CYCLE_KEYS and c["status"] == "archived"
    parse_utc(c["archived_at"])
    again = px.admin.post(f"/cycles/{p['id']}/archive")
    assert again.status_code == 200 and again.json() == c
    assert len(px.audit(entity_id=p["id"], action="cycle.archive")) == 1
    # left out of lists unless asked for
    for who in (px.admin, a.api):
        assert p["id"] not in {x["id"] for x in px.all_pages(who, "/cycles", limit=200)}
        assert p["id"] in {x["id"] for x in px.all_pages(who, "/cycles", include_archived="true", limit=200)}
        assert p["id"] in {x["id"] for x in px.all_pages(who, "/cycles", status="archived", limit=200)}
        assert who.get(f"/cycles/{p['id']}").status_code == 200
    # results stay readable; finalize still returns the stored results
    assert px.admin.get(f"/cycles/{p['id']}/results").json() == results
    assert px.admin.post(f"/cycles/{p['id']}/finalize").json() == results
    assert_problem(px.admin.patch(f"/cycles/{p['id']}", json={"description": "x"}), 409, "cycle_state")
    assert len(px.audit(entity_id=p["id"], action="cycle.finalize")) == 1


def test_award_history(px, sc):
    second = _small_finalized(px, [sc.pat.id, sc.amy.id], award_slots=1)
    r = sc.pat.api.get(f"/users/{sc.pat.id}/awards")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next_cursor"}
    items = body["items"]
    assert all(set(x) == AWARD_KEYS for x in items)
    assert [x["cycle_id"] for x in items] == [second["id"], sc.cycle["id"]]  # newest first
    latest, old = items
    assert (latest["rank"], latest["score"], latest["approved_nominations"], latest["is_winner"]) == (
        1, "5.000000", 1, True,
    )
    assert (old["rank"], old["score"], old["approved_nominations"], old["is_winner"]) == (6, "1.000013", 2, False)
    assert old["cycle_name"] == sc.cycle["name"]
    parse_utc(old["finalized_at"])
    for who in (px.admin, sc.manager.api):
        r = who.get(f"/users/{sc.pat.id}/awards")
        assert r.status_code == 200 and r.json()["items"] == items
    for who in (sc.other_manager.api, sc.n1.api, sc.amy.api, sc.zed.api):
        assert_problem(who.get(f"/users/{sc.pat.id}/awards"), 404, "not_found")
    # a user without awards
    assert sc.n1.api.get(f"/users/{sc.n1.id}/awards").json()["items"] == []
    assert_problem(px.admin.get("/users/00000000-0000-0000-0000-000000000000/awards"), 404, "not_found")
