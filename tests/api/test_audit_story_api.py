"""HTTP: a nomination's whole story in GET /audit-logs (`nomination_id`), the
known actions, plain dates for `since`/`until`, the actor's name."""

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text

import plaudit
from plaudit.models import AuditLog
from plaudit.services import audit
from plaudit.services.audit import ACTIONS
from tests.factories import auth, make_criterion, make_cycle, make_org, make_token
from tests.helpers import assert_problem


@pytest.fixture
def org(session):
    return make_org(session)


def h(session, user):
    return auth(make_token(session, user))


def entries(client, headers, **params):
    r = client.get("/audit-logs", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_nominations_whole_story_its_rows_and_its_approvals_rows(client, session, org):
    cycle = make_cycle(session)
    criterion = make_criterion(session, cycle)
    admin, manager, nominator = h(session, org.admin), h(session, org.manager), h(session, org.nominator)
    n = client.post(f"/cycles/{cycle.id}/nominations", headers=nominator,
                    json={"nominee_id": str(org.nominee.id), "justification": "Shipped the new billing flow."}).json()
    other = client.post(f"/cycles/{cycle.id}/nominations", headers=nominator,
                        json={"nominee_id": str(org.stranger.id), "justification": "Ran the on-call rota well."})
    body = {"decision": "approve", "ratings": [{"criterion_id": str(criterion.id), "value": 4}]}
    approval = client.put(f"/nominations/{n['id']}/approval", headers=manager, json=body).json()
    client.put(f"/nominations/{other.json()['id']}/approval", headers=manager, json=body)
    client.post(f"/nominations/{n['id']}/withdraw", headers=nominator)

    story = entries(client, admin, nomination_id=n["id"])
    assert [(e["action"], e["entity_id"]) for e in story] == [
        ("nomination.withdraw", n["id"]), ("approval.submit", approval["id"]), ("nomination.create", n["id"]),
    ]
    assert story[1]["payload"]["nomination_id"] == n["id"]
    assert story[1]["actor_name"] == org.manager.display_name
    assert [e["action"] for e in entries(client, admin, nomination_id=n["id"], action="approval.submit")] == [
        "approval.submit"]


def test_the_story_is_found_through_the_indexes(session, org):
    """The statement the filter runs uses an index for each half (no scan of the log)."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "audit_logs" in statement:
            seen.append((statement, parameters))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", capture)
    audit.list_audit_logs(session, org.admin, nomination_id=uuid.uuid4())
    event.remove(connection, "before_cursor_execute", capture)
    (statement, parameters), = seen
    assert "->> 'nomination_id'" in statement  # the key is no parameter: the index matches any plan
    session.execute(text("SET LOCAL enable_seqscan = off"))
    cursor = connection.connection.cursor()
    cursor.execute("EXPLAIN " + statement, parameters)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ix_audit_logs_payload_nomination_id" in plan and "ix_audit_logs_entity" in plan, plan
    assert "Seq Scan on audit_logs" not in plan, plan


def test_an_unknown_action_is_a_422_naming_the_known_ones(client, session, org):
    body = assert_problem(client.get("/audit-logs", headers=h(session, org.admin), params={"action": "cycle.frob"}),
                          422, "validation_error")
    assert "cycle.publish" in body["detail"] and "approval.submit" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "action"]


def test_every_action_the_code_writes_is_a_known_action():
    source = Path(plaudit.__file__).parent
    written = {m for path in source.rglob("*.py") for m in re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text())}
    assert written and written <= set(ACTIONS), written - set(ACTIONS)
    domain = ("user.create user.update team.create team.update token.create token.revoke cycle.create cycle.update "
              "cycle.delete cycle.publish cycle.finalize cycle.archive criterion.create criterion.update "
              "criterion.delete criteria.replace nomination.create nomination.update nomination.withdraw "
              "approval.submit").split()
    assert set(domain) <= set(ACTIONS)


def add_row(session, occurred_at):
    row = AuditLog(action="user.update", entity_type="user", entity_id=make_org(session).admin.id,
                   payload={"after": {"n": 1}}, occurred_at=occurred_at)
    session.add(row)
    session.flush()
    return row


def test_since_and_until_take_a_plain_date_meaning_its_start_in_utc(client, session, org):
    before = add_row(session, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    start = add_row(session, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    late = add_row(session, datetime(2026, 12, 1, 23, 59, tzinfo=UTC))
    admin = h(session, org.admin)
    on_the_first = {e["id"] for e in entries(client, admin, since="2026-12-01", until="2026-12-02")}
    assert on_the_first == {str(start.id), str(late.id)}
    until_the_first = {e["id"] for e in entries(client, admin, until="2026-12-01", since="2026-11-30")}
    assert until_the_first == {str(before.id)}
    for bad in ("2026-13-01", "2026-12-1", "20261201"):
        assert_problem(client.get("/audit-logs", headers=admin, params={"since": bad}), 422, "validation_error")


def test_an_admin_nominee_does_not_read_the_story_of_nominations_about_them(client, session, org):
    """Being the nominee wins over every role: the log leaves out the rows of a
    nomination about the reader and of its approvals (comments stay candid)."""
    cycle = make_cycle(session)
    criterion = make_criterion(session, cycle)
    other_admin = make_org(session).admin
    n = client.post(f"/cycles/{cycle.id}/nominations", headers=h(session, org.nominator),
                    json={"nominee_id": str(org.admin.id), "justification": "Ran payroll through the migration."})
    body = {"decision": "approve", "comment": "Between us: strong.",
            "ratings": [{"criterion_id": str(criterion.id), "value": 5}]}
    approval = client.put(f"/nominations/{n.json()['id']}/approval", headers=h(session, other_admin), json=body)
    assert approval.status_code == 201, approval.text
    mine = {e["entity_id"] for e in entries(client, h(session, org.admin), limit=200)}
    theirs = {e["entity_id"] for e in entries(client, h(session, other_admin), limit=200)}
    story = {n.json()["id"], approval.json()["id"]}
    assert story <= theirs and not story & mine
    assert entries(client, h(session, org.admin), nomination_id=n.json()["id"]) == []
