"""Notifications: who is told what, in the caller's transaction (DOMAIN.md "Notifications")."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from plaudit.clock import FixedClock
from plaudit.config import get_settings
from plaudit.errors import CycleState, ValidationFailed
from plaudit.models import Notification
from plaudit.services import approvals, cycles, nominations, notifications, ranking
from tests.conftest import NOW
from tests.factories import (
    make_criterion,
    make_cycle,
    make_nomination,
    make_org,
    make_rated_nomination,
    make_team,
    make_user,
)
from tests.helpers import audit_rows


@pytest.fixture
def mail_on(monkeypatch):
    """SMTP configured for the writing process (nothing is sent by these tests)."""
    monkeypatch.setenv("PLAUDIT_SMTP_URL", "smtp://127.0.0.1:1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def told(session: Session, kind: str | None = None, subject_id=None) -> dict:
    """{recipient_id: notification} of one kind (and subject)."""
    stmt = select(Notification)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if subject_id:
        stmt = stmt.where(Notification.subject_id == subject_id)
    found = list(session.scalars(stmt))
    assert len({n.recipient_id for n in found}) == len(found), "one notification per (event, recipient)"
    return {n.recipient_id: n for n in found}


def jobs(session: Session) -> list[dict]:
    return [
        dict(r._mapping)
        for r in session.execute(text("SELECT task_name, queue_name, lock, args FROM procrastinate_jobs ORDER BY id"))
    ]


def draft(session: Session, **fields):
    cycle = make_cycle(session, status="draft", **fields)
    make_criterion(session, cycle, weight="1")
    return cycle


# --------------------------------------------------------------------------- cycle published


def test_publishing_tells_every_active_user_who_may_nominate_and_nobody_else(session, admin):
    lead = make_user(session, role="team_lead")
    manager = make_user(session, role="manager")
    make_user(session, role="employee")
    make_user(session, role="team_lead", is_active=False)
    cycle = draft(session, nominator_roles=["team_lead", "manager"])

    cycles.publish_cycle(session, admin, cycle.id, now=NOW)

    found = told(session, "cycle_published", cycle.id)
    assert set(found) == {lead.id, manager.id}
    note = found[lead.id]
    assert cycle.name in note.title and "until" in note.body
    assert note.link == f"/app/cycles/{cycle.id}/nominate"
    assert note.email_status == "not_sent"  # no SMTP configured
    assert note.read_at is None
    assert jobs(session) == []


def test_a_refused_publish_tells_nobody(session, admin):
    make_user(session)
    cycle = draft(session)
    cycles.publish_cycle(session, admin, cycle.id, now=NOW)
    with pytest.raises(CycleState):
        cycles.publish_cycle(session, admin, cycle.id, now=NOW)
    assert len(told(session)) == 2  # the employee and the admin, once


def test_a_rolled_back_publish_leaves_no_notification_and_no_job(session, admin, mail_on):
    make_user(session)
    cycle = draft(session)
    savepoint = session.begin_nested()
    cycles.publish_cycle(session, admin, cycle.id, now=NOW)
    assert len(told(session)) == 2 and len(jobs(session)) == 1
    savepoint.rollback()
    assert told(session) == {} and jobs(session) == []


def test_with_smtp_mail_is_queued_with_one_job_per_event_except_for_who_turned_email_off(session, admin, mail_on):
    quiet = make_user(session)
    quiet.email_notifications = False
    keen = make_user(session)
    cycle = draft(session)

    cycles.publish_cycle(session, admin, cycle.id, now=NOW)

    found = told(session, "cycle_published")
    assert found[keen.id].email_status == "queued"
    assert found[admin.id].email_status == "queued"
    assert found[quiet.id].email_status == "not_sent"
    assert jobs(session) == [
        {
            "task_name": notifications.DELIVER_TASK,
            "queue_name": "mail",
            "lock": f"cycle_published:{cycle.id}",
            "args": {"kind": "cycle_published", "subject_id": str(cycle.id)},
        }
    ]


# --------------------------------------------------------------------------- nomination created


def create(session, cycle, nominator, nominee, clock=None):
    return nominations.create_nomination(
        session, nominator, cycle.id, nominee_id=nominee.id, justification="Always helps everyone out.",
        clock=clock or FixedClock(NOW),
    )


def test_a_new_nomination_tells_the_nominees_manager_only(session):
    org = make_org(session)
    cycle = make_cycle(session)
    nomination = create(session, cycle, org.nominator, org.nominee)

    found = told(session, "nomination_created", nomination.id)
    assert set(found) == {org.manager.id}  # not the admins: their queue tells them
    assert org.nominator.display_name in found[org.manager.id].body
    assert org.nominee.display_name in found[org.manager.id].body
    assert cycle.name in found[org.manager.id].body


def test_a_nomination_by_the_manager_tells_the_admins_who_have_no_conflict(session):
    manager = make_user(session, role="manager")
    team = make_team(session, manager=manager)
    nominee = make_user(session, team=team)
    admin_a, admin_b = make_user(session, role="admin"), make_user(session, role="admin")
    make_user(session, role="admin", is_active=False)
    cycle = make_cycle(session)

    nomination = create(session, cycle, manager, nominee)

    assert set(told(session, "nomination_created", nomination.id)) == {admin_a.id, admin_b.id}


def test_an_admin_nominating_is_not_told_of_their_own_nomination(session):
    nominator_admin, other_admin = make_user(session, role="admin"), make_user(session, role="admin")
    nominee = make_user(session)  # no team, so no manager
    cycle = make_cycle(session)
    nomination = create(session, cycle, nominator_admin, nominee)
    assert set(told(session, "nomination_created", nomination.id)) == {other_admin.id}


def test_a_nominated_manager_is_not_told_of_the_nomination_about_them(session):
    manager = make_user(session, role="manager")
    team = make_team(session, manager=manager)
    manager.team_id = team.id
    colleague = make_user(session, team=team)
    admin = make_user(session, role="admin")
    cycle = make_cycle(session)
    nomination = create(session, cycle, colleague, manager)
    assert set(told(session, "nomination_created", nomination.id)) == {admin.id}


def test_a_refused_nomination_tells_nobody(session):
    org = make_org(session)
    cycle = make_cycle(session)
    create(session, cycle, org.nominator, org.nominee)
    with pytest.raises(Exception):  # noqa: B017 - duplicate_nomination, whatever its class
        create(session, cycle, org.nominator, org.nominee)
    assert len(told(session, "nomination_created")) == 1


def test_a_new_nomination_queues_mail_in_its_own_statement(session, mail_on):
    org = make_org(session)
    cycle = make_cycle(session)
    nomination = create(session, cycle, org.nominator, org.nominee)
    assert told(session, "nomination_created")[org.manager.id].email_status == "queued"
    assert [j["args"] for j in jobs(session)] == [{"kind": "nomination_created", "subject_id": str(nomination.id)}]


def test_a_rolled_back_nomination_leaves_no_notification_and_no_job(session, mail_on):
    org = make_org(session)
    cycle = make_cycle(session)
    savepoint = session.begin_nested()
    create(session, cycle, org.nominator, org.nominee)
    assert len(told(session, "nomination_created")) == 1 and len(jobs(session)) == 1
    savepoint.rollback()
    assert told(session) == {} and jobs(session) == []


def test_a_quota_cycle_tells_the_manager_too(session):
    org = make_org(session)
    cycle = make_cycle(session, max_nominations_per_nominator=2)
    nomination = create(session, cycle, org.nominator, org.nominee)
    assert set(told(session, "nomination_created", nomination.id)) == {org.manager.id}


# --------------------------------------------------------------------------- nomination decided


def test_the_nominator_is_told_when_the_nomination_is_approved_and_then_rejected(session, clock):
    org = make_org(session)
    cycle = make_cycle(session)
    criterion = make_criterion(session, cycle)
    nomination = make_nomination(session, cycle, org.nominator, org.nominee)
    second = make_user(session, role="admin")

    approvals.submit_approval(session, org.manager, nomination.id, decision="approve",
                              ratings=[{"criterion_id": criterion.id, "value": 4}], clock=clock)
    found = told(session, "nomination_approved", nomination.id)
    assert set(found) == {org.nominator.id}
    assert org.nominee.display_name in found[org.nominator.id].title

    approvals.submit_approval(session, second, nomination.id, decision="reject", comment="Not now.", clock=clock)
    assert set(told(session, "nomination_rejected", nomination.id)) == {org.nominator.id}
    assert set(session.scalars(select(Notification.recipient_id))) == {org.nominator.id}  # nobody else


def test_a_pending_decision_tells_nobody(session, clock):
    org = make_org(session)
    cycle = make_cycle(session, required_approvals=2)
    criterion = make_criterion(session, cycle)
    nomination = make_nomination(session, cycle, org.nominator, org.nominee)
    approvals.submit_approval(session, org.manager, nomination.id, decision="approve",
                              ratings=[{"criterion_id": criterion.id, "value": 4}], clock=clock)
    assert told(session) == {}


# --------------------------------------------------------------------------- cycle finalized


def test_finalizing_tells_the_winners_and_their_managers_never_the_losers(session):
    admin = make_user(session, role="admin")
    manager = make_user(session, role="manager")
    team = make_team(session, manager=manager)
    winner = make_user(session, team=team, display_name="Winner One")
    teamless_winner = make_user(session, display_name="Winner Two")
    loser = make_user(session, team=team)
    cycle = make_cycle(session, nominations="after", approvals="after", award_slots=2)
    c = make_criterion(session, cycle)
    make_rated_nomination(session, cycle, winner, [{c: 5}])
    make_rated_nomination(session, cycle, teamless_winner, [{c: 4}])
    make_rated_nomination(session, cycle, loser, [{c: 1}])

    ranking.finalize_cycle(session, admin, cycle.id, clock=FixedClock(NOW))

    found = told(session, "cycle_finalized", cycle.id)
    assert set(found) == {winner.id, teamless_winner.id, manager.id}
    assert loser.id not in found
    assert "Winner One" in found[manager.id].body and "Winner Two" not in found[manager.id].body
    assert found[winner.id].title == f"You won in {cycle.name}"

    ranking.finalize_cycle(session, admin, cycle.id, clock=FixedClock(NOW))  # idempotent: nobody told twice
    assert len(told(session, "cycle_finalized", cycle.id)) == 3


# --------------------------------------------------------------------------- reminders


def reminder_cycle(session, closes, approval_closes=None, **fields):
    return make_cycle(
        session,
        nomination_opens_at=NOW - timedelta(days=5),
        nomination_closes_at=closes,
        approval_opens_at=NOW - timedelta(days=5),
        approval_closes_at=approval_closes or closes + timedelta(days=3),
        **fields,
    )


@pytest.mark.parametrize(
    ("offset", "sent"),
    [
        (timedelta(hours=24, microseconds=1), False),  # just before the reminder
        (timedelta(hours=24), True),  # the reminder's first moment
        (timedelta(microseconds=1), True),  # the last moment before closing
        (timedelta(0), False),  # closed
    ],
)
def test_the_nomination_reminder_runs_from_24_hours_before_closing(session, offset, sent):
    waiting = make_user(session)
    done = make_user(session)
    cycle = reminder_cycle(session, NOW + offset)
    make_nomination(session, cycle, done, waiting)

    notifications.send_reminders(session, now=NOW)

    expected = {waiting.id} if sent else set()
    assert set(told(session, "nomination_reminder", cycle.id)) == expected


def test_the_nomination_reminder_skips_roles_that_may_not_nominate_and_inactive_users(session):
    lead = make_user(session, role="team_lead")
    make_user(session, role="employee")
    make_user(session, role="team_lead", is_active=False)
    cycle = reminder_cycle(session, NOW + timedelta(hours=1), nominator_roles=["team_lead"])
    notifications.send_reminders(session, now=NOW)
    assert set(told(session, "nomination_reminder", cycle.id)) == {lead.id}


@pytest.mark.parametrize(
    ("offset", "sent"),
    [(timedelta(hours=48, microseconds=1), False), (timedelta(hours=48), True), (timedelta(0), False)],
)
def test_the_approval_reminder_tells_approvers_how_many_wait_from_48_hours_before(session, offset, sent):
    org = make_org(session)
    closes = NOW + offset
    cycle = reminder_cycle(session, closes - timedelta(days=1), approval_closes=closes)
    make_nomination(session, cycle, org.nominator, org.nominee)
    make_nomination(session, cycle, org.stranger, org.nominee)
    about_the_admin = make_nomination(session, cycle, org.nominator, org.admin)
    del about_the_admin  # the admin's own: not in their queue

    notifications.send_reminders(session, now=NOW)

    found = told(session, "approval_reminder", cycle.id)
    if not sent:
        assert found == {}
        return
    assert set(found) == {org.manager.id, org.admin.id}
    assert found[org.manager.id].body.startswith("2 nomination(s)")
    assert found[org.admin.id].body.startswith("2 nomination(s)")  # not the one about themself


def test_reminders_run_twice_tell_nobody_twice(session):
    make_user(session)
    cycle = reminder_cycle(session, NOW + timedelta(hours=1))
    assert notifications.send_reminders(session, now=NOW) == 1
    assert notifications.send_reminders(session, now=NOW + timedelta(minutes=1)) == 0
    assert len(told(session, "nomination_reminder", cycle.id)) == 1


def test_racing_reminder_runs_write_each_notification_once(committed_db):
    factory = sessionmaker(committed_db, expire_on_commit=False)
    with factory.begin() as session:
        people = [make_user(session) for _ in range(30)]
        cycle = reminder_cycle(session, NOW + timedelta(hours=1))
    barrier = threading.Barrier(4)
    written: list[int] = []

    def run():
        with factory.begin() as session:
            barrier.wait()
            written.append(notifications.send_reminders(session, now=NOW))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with factory() as session:
        assert sorted(written, reverse=True)[0] == len(people) and sum(written) == len(people)
        assert len(told(session, "nomination_reminder", cycle.id)) == len(people)


# --------------------------------------------------------------------------- reading


def test_the_inbox_is_newest_first_filters_unread_and_marking_read_is_idempotent(session, admin):
    reader = make_user(session)
    other = make_user(session)
    for _ in range(3):
        cycles.publish_cycle(session, admin, draft(session).id, now=NOW)
        session.execute(text("SELECT 1"))
    mine = list(session.scalars(select(Notification).where(Notification.recipient_id == reader.id)))
    # Distinct times, so the order is visible.
    for i, n in enumerate(mine):
        n.created_at = NOW + timedelta(minutes=i)
    session.flush()

    page = notifications.list_notifications(session, reader, limit=2)
    assert [n.created_at for n in page.items] == [NOW + timedelta(minutes=2), NOW + timedelta(minutes=1)]
    rest = notifications.list_notifications(session, reader, limit=2, cursor=page.next_cursor)
    assert [n.created_at for n in rest.items] == [NOW] and rest.next_cursor is None
    assert notifications.unread_count(session, reader) == 3

    first = page.items[0]
    assert notifications.mark_read(session, reader, ids=[first.id], now=NOW) == 1
    assert notifications.mark_read(session, reader, ids=[first.id], now=NOW + timedelta(hours=1)) == 0
    assert session.scalar(select(Notification.read_at).where(Notification.id == first.id)) == NOW
    unread = notifications.list_notifications(session, reader, unread=True)
    assert first.id not in {n.id for n in unread.items} and len(unread.items) == 2

    # Someone else's ids change nothing.
    theirs = session.scalar(select(Notification.id).where(Notification.recipient_id == other.id))
    assert notifications.mark_read(session, reader, ids=[theirs], now=NOW) == 0
    assert notifications.mark_read(session, reader, everything=True, now=NOW) == 2
    assert notifications.unread_count(session, reader) == 0
    assert notifications.unread_count(session, other) == 3


def test_marking_read_needs_ids_or_all(session):
    user = make_user(session)
    with pytest.raises(ValidationFailed):
        notifications.mark_read(session, user, now=NOW)
    with pytest.raises(ValidationFailed):
        notifications.mark_read(session, user, ids=[], everything=True, now=NOW)


def test_turning_email_off_is_audited_once(session):
    user = make_user(session)
    assert notifications.get_preferences(user).email_notifications is True
    notifications.set_preferences(session, user, email_notifications=False)
    notifications.set_preferences(session, user, email_notifications=False)
    assert user.email_notifications is False
    rows = audit_rows(session, entity_id=user.id, action="user.update")
    assert len(rows) == 1
    assert rows[0].payload == {"before": {"email_notifications": True}, "after": {"email_notifications": False}}
    assert rows[0].actor_id == user.id


def test_the_outbox_is_for_admins_and_filters_by_status(session, admin, mail_on):
    user = make_user(session)
    cycles.publish_cycle(session, admin, draft(session).id, now=NOW)
    with pytest.raises(Exception):  # noqa: B017 - forbidden
        notifications.list_outbox(session, user)
    page = notifications.list_outbox(session, admin, email_status="queued")
    assert {e.recipient_email for e in page.items} == {user.email, admin.email}
    assert all(e.attempts == 0 and e.sent_at is None for e in page.items)
    assert notifications.list_outbox(session, admin, email_status="sent").items == []
    assert session.scalar(select(func.count()).select_from(Notification)) == 2
