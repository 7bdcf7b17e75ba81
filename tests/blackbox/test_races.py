"""More concurrency: unique names, status recomputation, write skew between
publish and criteria changes, window edits, idempotent transitions."""

import httpx

from tests.blackbox.conftest import (
    JUSTIFICATION,
    assert_problem,
    concurrently,
    parse_utc,
    uniq,
)


def _in_parallel(base_url, calls):
    """calls: list of (token, method, path, json) run at once; returns responses."""
    def one(i):
        token, method, path, body = calls[i]
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            return http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    return concurrently(len(calls), one)


def _summary(results):
    return [(r.status_code, r.text[:160]) for r in results]


def test_concurrent_same_email_one_wins(px, base_url):
    email = f"race{uniq()}@example.org"
    calls = [(px.admin_token, "POST", "/users", {"email": email if i % 2 else email.upper(),
                                                 "display_name": f"R{i}", "role": "employee"}) for i in range(8)]
    results = _in_parallel(base_url, calls)
    assert [r.status_code for r in results].count(201) == 1, _summary(results)
    for r in results:
        if r.status_code != 201:
            assert_problem(r, 409, "duplicate_name")


def test_concurrent_same_team_name_one_wins(px, base_url):
    name = f"Race {uniq()}"
    results = _in_parallel(base_url, [(px.admin_token, "POST", "/teams", {"name": name}) for _ in range(8)])
    assert [r.status_code for r in results].count(201) == 1, _summary(results)
    for r in results:
        if r.status_code != 201:
            assert_problem(r, 409, "duplicate_name")


def test_concurrent_same_criterion_name_one_wins(px, base_url):
    c = px.cycle()
    results = _in_parallel(base_url, [(px.admin_token, "POST", f"/cycles/{c['id']}/criteria",
                                       {"name": "Impact" if i % 2 else "IMPACT", "weight": "0.5"}) for i in range(8)])
    assert [r.status_code for r in results].count(201) == 1, _summary(results)
    for r in results:
        if r.status_code != 201:
            assert_problem(r, 409, "duplicate_name")


def test_concurrent_approvals_by_different_approvers_reach_approved(px, base_url):
    """required_approvals=6, six admins approve at once: no lost update of the status."""
    p, crits = px.published(required_approvals=6)
    admins = [px.user("admin") for _ in range(6)]
    nominator, nominee = px.user(), px.user()
    for _ in range(2):
        n = px.nominate(nominator, p["id"], nominee.id)
        body = {"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": 4}]}
        results = _in_parallel(base_url, [(a.token, "PUT", f"/nominations/{n['id']}/approval", body) for a in admins])
        assert all(r.status_code == 201 for r in results), _summary(results)
        assert px.admin.get(f"/nominations/{n['id']}").json()["status"] == "approved"
        assert sorted(r.json()["nomination_status"] for r in results).count("approved") == 1
        assert nominator.api.post(f"/nominations/{n['id']}/withdraw").status_code == 200


def test_withdraw_racing_approvals_stays_withdrawn(px, base_url):
    p, crits = px.published()
    admins = [px.user("admin") for _ in range(7)]
    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, p["id"], nominee.id)
    body = {"decision": "approve", "ratings": [{"criterion_id": crits[0]["id"], "value": 4}]}
    calls = [(a.token, "PUT", f"/nominations/{n['id']}/approval", body) for a in admins]
    calls.insert(3, (nominator.token, "POST", f"/nominations/{n['id']}/withdraw", None))
    results = _in_parallel(base_url, calls)
    assert results[3].status_code == 200, _summary(results)
    for r in results[:3] + results[4:]:
        assert r.status_code == 201 or r.json()["code"] == "nomination_state", _summary(results)
    assert px.admin.get(f"/nominations/{n['id']}").json()["status"] == "withdrawn"


def test_publish_racing_criterion_delete_never_publishes_bad_weights(px, base_url):
    for _ in range(6):
        c = px.cycle()
        a = px.criterion(c["id"], "A", "0.5")
        px.criterion(c["id"], "B", "0.5")
        results = _in_parallel(base_url, [
            (px.admin_token, "POST", f"/cycles/{c['id']}/publish", None),
            (px.admin_token, "DELETE", f"/criteria/{a['id']}", None),
        ])
        pub, dele = results
        assert not (pub.status_code == 200 and dele.status_code == 204), _summary(results)
        final = px.admin.get(f"/cycles/{c['id']}").json()
        weights = [x["weight"] for x in px.admin.get(f"/cycles/{c['id']}/criteria").json()["items"]]
        if final["status"] == "published":
            assert weights == ["0.5000", "0.5000"]


def test_publish_racing_criteria_replace(px, base_url):
    for _ in range(6):
        c = px.cycle()
        px.criterion(c["id"], "A", "1")
        results = _in_parallel(base_url, [
            (px.admin_token, "POST", f"/cycles/{c['id']}/publish", None),
            (px.admin_token, "PUT", f"/cycles/{c['id']}/criteria", {"items": [{"name": "X", "weight": "0.5"},
                                                                               {"name": "Y", "weight": "0.5"}]}),
        ])
        assert not all(r.status_code == 200 for r in results) or \
            px.admin.get(f"/cycles/{c['id']}/criteria").json()["items"][0]["name"] in ("X", "Y")
        # whichever order, the published cycle's criteria sum to 1 and the loser got cycle_state
        if results[1].status_code != 200:
            assert_problem(results[1], 409, "cycle_state")


def test_concurrent_window_edits_keep_invariants(px, base_url):
    """Two admins move different bounds at once; each edit alone is valid,
    both together would break approval_closes_at >= nomination_closes_at."""
    from datetime import timedelta

    from tests.blackbox.conftest import iso, now
    for _ in range(6):
        p, _ = px.published()
        t = now()
        results = _in_parallel(base_url, [
            (px.admin_token, "PATCH", f"/cycles/{p['id']}", {"nomination_closes_at": iso(t + timedelta(minutes=110))}),
            (px.admin_token, "PATCH", f"/cycles/{p['id']}", {"approval_closes_at": iso(t + timedelta(minutes=90))}),
        ])
        final = px.admin.get(f"/cycles/{p['id']}").json()
        assert parse_utc(final["approval_closes_at"]) >= parse_utc(final["nomination_closes_at"]), _summary(results)
        for r in results:
            assert r.status_code == 200 or r.json()["code"] == "invalid_windows", _summary(results)


def test_concurrent_publish_archive_withdraw_revoke_are_single_changes(px, base_url):
    c = px.cycle()
    px.criterion(c["id"], "A", "1")
    results = _in_parallel(base_url, [(px.admin_token, "POST", f"/cycles/{c['id']}/publish", None)] * 6)
    assert [r.status_code for r in results].count(200) == 1, _summary(results)
    assert len(px.audit(entity_id=c["id"], action="cycle.publish")) == 1

    nominator, nominee = px.user(), px.user()
    n = px.nominate(nominator, c["id"], nominee.id)
    results = _in_parallel(base_url, [(nominator.token, "POST", f"/nominations/{n['id']}/withdraw", None)] * 6)
    assert all(r.status_code == 200 for r in results), _summary(results)
    assert len({r.json()["withdrawn_at"] for r in results}) == 1
    assert len(px.audit(entity_id=n["id"], action="nomination.withdraw")) == 1

    px.close(c["id"])
    px.finalize(c["id"])
    results = _in_parallel(base_url, [(px.admin_token, "POST", f"/cycles/{c['id']}/archive", None)] * 6)
    assert all(r.status_code == 200 for r in results), _summary(results)
    assert len({r.json()["archived_at"] for r in results}) == 1
    assert len(px.audit(entity_id=c["id"], action="cycle.archive")) == 1

    tok = px.admin.post(f"/users/{nominee.id}/tokens", json={"name": "race"}).json()
    results = _in_parallel(base_url, [(px.admin_token, "DELETE", f"/tokens/{tok['id']}", None)] * 6)
    assert all(r.status_code == 204 for r in results), _summary(results)
    assert len(px.audit(entity_id=tok["id"], action="token.revoke")) == 1


def test_concurrent_nominations_from_two_processes_different_nominators(px, base_url):
    p, _ = px.published(max_nominations_per_nominator=1)
    nominee = px.user()
    nominators = [px.user() for _ in range(8)]
    body = {"nominee_id": nominee.id, "justification": JUSTIFICATION}
    results = _in_parallel(base_url, [(u.token, "POST", f"/cycles/{p['id']}/nominations", body) for u in nominators])
    assert all(r.status_code == 201 for r in results), _summary(results)
