"""HTTP: names beside ids (Nomination, Approval), nominee privacy, the work
queues (`/me/approvals`, `/me/nominations`) and `GET /users/{id}/tokens`."""

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

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
from tests.helpers import assert_problem


class World:
    """`boss` manages `team`; `member` and `nominator` are in it; `admin` is HR."""

    def __init__(self, session):
        self.admin = make_user(session, role="admin", display_name="Hana HR")
        self.boss = make_user(session, role="manager", display_name="Bea Boss")
        self.team = make_team(session, name=f"Platform {uuid.uuid4().hex[:6]}", manager=self.boss)
        self.boss.team_id = self.team.id  # a manager within the team they manage
        self.member = make_user(session, team=self.team, display_name="Mo Member")
        self.nominator = make_user(session, team=self.team, display_name="Nia Nominator")
        self.cycle = make_cycle(session, name=f"Spring {uuid.uuid4().hex[:6]}")
        self.impact = make_criterion(session, self.cycle, name="Impact", weight="0.6")
        self.care = make_criterion(session, self.cycle, name="Care", weight="0.4", position=1)
        self.h = {k: auth(make_token(session, getattr(self, k))) for k in ("admin", "boss", "member", "nominator")}


@pytest.fixture
def w(session):
    return World(session)


@contextmanager
def count_statements(engine):
    """The SQL statements run through SQLAlchemy inside the block (not the
    test transaction's savepoints)."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "SAVEPOINT" not in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


# --------------------------------------------------------------------------- names beside ids


def test_a_nomination_carries_the_names_beside_its_ids(client, session, w):
    r = client.post(f"/cycles/{w.cycle.id}/nominations", headers=w.h["nominator"],
                    json={"nominee_id": str(w.member.id), "justification": "Rebuilt the deploy pipeline."})
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["cycle_name"], created["nominator_name"], created["nominee_name"],
            created["nominee_team_name"]) == (w.cycle.name, "Nia Nominator", "Mo Member", w.team.name)
    assert created["approvals_count"] is None  # the nominator does not read approvals
    for who in ("admin", "boss"):
        got = client.get(f"/nominations/{created['id']}", headers=w.h[who]).json()
        assert got == {**created, "approvals_count": 0}
    listed = client.get(f"/cycles/{w.cycle.id}/nominations", headers=w.h["nominator"]).json()["items"]
    assert listed == [created]


def test_a_nominee_without_a_team_has_a_null_team_name(client, session, w):
    loner = make_user(session, display_name="Lone Wolf")
    n = make_nomination(session, w.cycle, w.nominator, loner)
    body = client.get(f"/nominations/{n.id}", headers=w.h["admin"]).json()
    assert (body["nominee_name"], body["nominee_team_name"]) == ("Lone Wolf", None)


def test_an_admin_creating_a_nomination_sees_its_approvals_count(client, w):
    r = client.post(f"/cycles/{w.cycle.id}/nominations", headers=w.h["admin"],
                    json={"nominee_id": str(w.member.id), "justification": "Rebuilt the deploy pipeline."})
    assert r.status_code == 201 and r.json()["approvals_count"] == 0 and r.json()["nominator_name"] == "Hana HR"


def test_approvals_carry_the_approver_and_criteria_names(client, session, w):
    n = make_nomination(session, w.cycle, w.nominator, w.member)
    r = client.put(f"/nominations/{n.id}/approval", headers=w.h["boss"], json={
        "decision": "approve",
        "ratings": [{"criterion_id": str(w.care.id), "value": 4}, {"criterion_id": str(w.impact.id), "value": 5}],
    })
    assert r.status_code == 201, r.text
    expected_ratings = [  # in the criteria's list order
        {"criterion_id": str(w.impact.id), "criterion_name": "Impact", "value": 5},
        {"criterion_id": str(w.care.id), "criterion_name": "Care", "value": 4},
    ]
    assert r.json()["approver_name"] == "Bea Boss" and r.json()["ratings"] == expected_ratings
    (item,) = client.get(f"/nominations/{n.id}/approvals", headers=w.h["admin"]).json()["items"]
    assert item["approver_name"] == "Bea Boss" and item["ratings"] == expected_ratings
    assert client.get(f"/nominations/{n.id}", headers=w.h["admin"]).json()["approvals_count"] == 1


def test_rating_errors_name_criteria_by_name(client, session, w):
    n = make_nomination(session, w.cycle, w.nominator, w.member)
    url = f"/nominations/{n.id}/approval"
    missing = client.put(url, headers=w.h["boss"], json={
        "decision": "approve", "ratings": [{"criterion_id": str(w.impact.id), "value": 5}]})
    assert "'Care'" in assert_problem(missing, 422, "invalid_ratings")["detail"]
    out_of_scale = client.put(url, headers=w.h["boss"], json={"decision": "approve", "ratings": [
        {"criterion_id": str(w.impact.id), "value": 9}, {"criterion_id": str(w.care.id), "value": 3}]})
    detail = assert_problem(out_of_scale, 422, "invalid_ratings")["detail"]
    assert "'Impact'" in detail and str(w.impact.id) not in detail


def test_a_page_of_names_costs_the_same_statements_whatever_its_size(client, session, engine, w):
    nominees = [make_user(session, team=w.team) for _ in range(60)]
    for nominee in nominees:
        n = make_nomination(session, w.cycle, w.nominator, nominee)
        make_approval(session, n, w.admin, ratings={w.impact: 3, w.care: 4})
    session.flush()
    paths = [f"/cycles/{w.cycle.id}/nominations", "/me/approvals", "/me/nominations"]
    for path, who in zip(paths, ("admin", "boss", "nominator"), strict=True):
        counts = {}
        for limit in (1, 50):
            with count_statements(engine) as seen:
                r = client.get(path, headers=w.h[who], params={"limit": limit})
            assert r.status_code == 200 and len(r.json()["items"]) == limit, (path, r.text)
            assert all(item["nominee_name"] and item["cycle_name"] for item in r.json()["items"])
            counts[limit] = len(seen)
        assert counts[1] == counts[50] <= 2, (path, counts)  # the list (and the cycle it is of)


def test_a_page_of_audit_entries_with_actor_names_costs_the_same_statements_whatever_its_size(
    client, session, engine, w
):
    for _ in range(60):
        client.post(f"/users/{w.member.id}/tokens", headers=w.h["member"], json={"name": "laptop"})
    counts = {}
    for limit in (1, 50):
        with count_statements(engine) as seen:
            r = client.get("/audit-logs", headers=w.h["admin"], params={"limit": limit, "action": "token.create"})
        assert r.status_code == 200 and len(r.json()["items"]) == limit
        assert {item["actor_name"] for item in r.json()["items"]} == {"Mo Member"}
        counts[limit] = len(seen)
    assert counts[1] == counts[50] == 1


def test_approvals_of_a_nomination_cost_the_same_statements_whatever_their_number(client, session, engine, w):
    few = make_nomination(session, w.cycle, w.nominator, w.member)
    many = make_nomination(session, w.cycle, w.boss, w.member)
    make_approval(session, few, w.admin, ratings={w.impact: 3, w.care: 4})
    for _ in range(20):
        make_approval(session, many, make_user(session, role="admin"), ratings={w.impact: 3, w.care: 4})
    counts = []
    for n in (few, many):
        with count_statements(engine) as seen:
            r = client.get(f"/nominations/{n.id}/approvals", headers=w.h["admin"])
        assert r.status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1]


# --------------------------------------------------------------------------- nominee privacy


@pytest.mark.parametrize("nominee", ["admin", "boss"])
def test_the_nominee_never_reads_a_nomination_about_them_while_published(client, session, w, nominee):
    """Being the nominee wins over every role: an admin, or a manager nominated
    within their own team, is not_found on it, also in lists and approvals."""
    person = getattr(w, nominee)
    n = make_nomination(session, w.cycle, w.nominator, person)
    make_approval(session, n, make_user(session, role="admin"), comment="Between us: strong case.",
                  ratings={w.impact: 5, w.care: 5})
    h = w.h[nominee]
    assert_problem(client.get(f"/nominations/{n.id}", headers=h), 404, "not_found")
    assert_problem(client.get(f"/nominations/{n.id}/approvals", headers=h), 404, "not_found")
    listed = client.get(f"/cycles/{w.cycle.id}/nominations", headers=h, params={"nominee_id": str(person.id)})
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert client.get("/me/approvals", headers=h).json()["items"] == []
    body = {"decision": "approve", "ratings": [{"criterion_id": str(c.id), "value": 5} for c in (w.impact, w.care)]}
    assert_problem(client.put(f"/nominations/{n.id}/approval", headers=h, json=body), 404, "not_found")
    # Another admin still sees it.
    other_admin = auth(make_token(session, make_user(session, role="admin")))
    assert client.get(f"/nominations/{n.id}", headers=other_admin).status_code == 200


@pytest.mark.parametrize("nominee", ["admin", "boss"])
def test_after_finalization_the_nominee_reads_approved_ones_but_never_approvals(client, session, w, nominee):
    person = getattr(w, nominee)
    done = make_cycle(session, status="finalized", nominations="after", approvals="after")
    approved = make_nomination(session, done, w.nominator, person, status="approved")
    make_approval(session, approved, make_user(session, role="admin"))
    rejected = make_nomination(session, done, w.member, person, status="rejected")
    h = w.h[nominee]
    got = client.get(f"/nominations/{approved.id}", headers=h)
    assert got.status_code == 200 and got.json()["approvals_count"] is None
    assert_problem(client.get(f"/nominations/{approved.id}/approvals", headers=h), 403, "forbidden")
    assert_problem(client.get(f"/nominations/{rejected.id}", headers=h), 404, "not_found")
    listed = client.get(f"/cycles/{done.id}/nominations", headers=h).json()["items"]
    assert [x["id"] for x in listed] == [str(approved.id)]


# --------------------------------------------------------------------------- /me/approvals, /me/nominations


def test_me_approvals_is_the_callers_queue(client, session, w):
    n = make_nomination(session, w.cycle, w.nominator, w.member)
    other = make_cycle(session)
    m = make_nomination(session, other, w.nominator, w.member)
    body = client.get("/me/approvals", headers=w.h["boss"]).json()
    assert {x["id"] for x in body["items"]} == {str(n.id), str(m.id)} and body["next_cursor"] is None
    only = client.get("/me/approvals", headers=w.h["boss"], params={"cycle_id": str(other.id)}).json()["items"]
    assert [x["id"] for x in only] == [str(m.id)]
    assert client.get("/me/approvals", headers=w.h["member"]).json() == {"items": [], "next_cursor": None}
    client.put(f"/nominations/{n.id}/approval", headers=w.h["boss"], json={
        "decision": "reject", "comment": "Not this time."})
    assert [x["id"] for x in client.get("/me/approvals", headers=w.h["boss"]).json()["items"]] == [str(m.id)]


def test_me_approvals_items_are_the_nominations_json_exactly(client, session, w):
    """The queue's JSON is built by PostgreSQL: each item must be what
    `GET /nominations/{id}` (pydantic) gives, to the character: times in UTC
    with and without microseconds, text that needs escaping, no team."""
    loner = make_user(session, display_name='Lo "Lone" Ñandú')  # no team: only an admin approves
    whole = make_nomination(session, w.cycle, w.nominator, w.member,
                            justification='Said "ship it" \\ and\nshipped; 100% ✓ \t done')
    whole.created_at = whole.created_at.replace(microsecond=0)
    fraction = make_nomination(session, w.cycle, w.member, loner)
    fraction.created_at = fraction.created_at.replace(microsecond=120000)
    make_approval(session, fraction, w.boss, ratings={w.impact: 3, w.care: 4})
    session.flush()
    items = client.get("/me/approvals", headers=w.h["admin"]).json()["items"]
    assert {x["id"] for x in items} == {str(whole.id), str(fraction.id)}
    for item in items:
        assert item == client.get(f"/nominations/{item['id']}", headers=w.h["admin"]).json()
    by_id = {x["id"]: x for x in items}
    assert by_id[str(fraction.id)]["approvals_count"] == 1 and by_id[str(fraction.id)]["nominee_team_name"] is None
    assert by_id[str(fraction.id)]["created_at"].endswith(".120000Z")
    assert by_id[str(whole.id)]["created_at"].endswith("Z") and "." not in by_id[str(whole.id)]["created_at"]


def test_me_nominations_newest_first_with_filters(client, session, w):
    first = make_nomination(session, w.cycle, w.nominator, w.member)
    second = make_nomination(session, w.cycle, w.nominator, w.boss, status="approved")
    second.created_at = first.created_at + timedelta(seconds=1)
    make_nomination(session, w.cycle, w.member, w.nominator)  # someone else's
    session.flush()
    r = client.get("/me/nominations", headers=w.h["nominator"])
    assert [x["id"] for x in r.json()["items"]] == [str(second.id), str(first.id)]
    page = client.get("/me/nominations", headers=w.h["nominator"], params={"limit": 1}).json()
    rest = client.get("/me/nominations", headers=w.h["nominator"], params={"cursor": page["next_cursor"]}).json()
    assert [x["id"] for x in page["items"] + rest["items"]] == [str(second.id), str(first.id)]
    pending = client.get("/me/nominations", headers=w.h["nominator"], params={"status": "pending"}).json()["items"]
    assert [x["id"] for x in pending] == [str(first.id)]
    elsewhere = client.get("/me/nominations", headers=w.h["nominator"], params={"cycle_id": str(uuid.uuid4())})
    assert elsewhere.json()["items"] == []
    assert_problem(client.get("/me/nominations", headers=w.h["nominator"], params={"status": "nope"}),
                   422, "validation_error")


# --------------------------------------------------------------------------- tokens


def test_users_tokens_lists_without_secrets_for_the_user_and_admins(client, session, w):
    made = client.post(f"/users/{w.member.id}/tokens", headers=w.h["member"], json={"name": "laptop"}).json()
    for who in ("member", "admin"):
        r = client.get(f"/users/{w.member.id}/tokens", headers=w.h[who])
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) == 2 and {"id": made["id"], "name": "laptop"}.items() <= next(
            t for t in items if t["id"] == made["id"]).items()  # and the fixture's token
        assert all(set(t) == {"id", "user_id", "name", "created_at", "expires_at", "revoked_at"} for t in items)
        assert made["token"] not in r.text
    assert_problem(client.get(f"/users/{w.member.id}/tokens", headers=w.h["boss"]), 403, "forbidden")
    assert_problem(client.get(f"/users/{uuid.uuid4()}/tokens", headers=w.h["boss"]), 404, "not_found")


def test_users_tokens_are_newest_first_and_keyset_paged(client, session, w):
    from plaudit.models import ApiToken

    made = [client.post(f"/users/{w.member.id}/tokens", headers=w.h["admin"], json={"name": f"t{i}"}).json()
            for i in range(3)]
    for i, token in enumerate(made):  # one transaction: set distinct creation times
        session.get(ApiToken, uuid.UUID(token["id"])).created_at += timedelta(minutes=i + 1)
    session.flush()
    first = client.get(f"/users/{w.member.id}/tokens", headers=w.h["admin"], params={"limit": 2}).json()
    rest = client.get(f"/users/{w.member.id}/tokens", headers=w.h["admin"],
                      params={"limit": 2, "cursor": first["next_cursor"]}).json()
    names = [t["name"] for t in first["items"] + rest["items"]]
    assert names == ["t2", "t1", "t0", "test"] and rest["next_cursor"] is None
    assert_problem(client.get(f"/users/{uuid.uuid4()}/tokens", headers=w.h["admin"]), 404, "not_found")
