"""Every event of DOMAIN.md's table mails the right people, and nobody else."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from plaudit.clock import FixedClock
from plaudit.mail.render import message_id
from plaudit.models import Notification, User
from plaudit.services import approvals, cycles, nominations, ranking
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_team, make_user
from tests.mail.conftest import settled, wait_until


def test_every_event_mails_exactly_its_recipients_once(factory, sink, workers):
    with factory.begin() as s:
        admin = make_user(s, role="admin", display_name="Hr Admin")
        manager = make_user(s, role="manager")
        team = make_team(s, manager=manager)
        nominator, winner, loser = (make_user(s, team=team) for _ in range(3))
        quiet = make_user(s)
        quiet.email_notifications = False
        cycle = make_cycle(s, status="draft", award_slots=1)
        criterion = make_criterion(s, cycle)
    workers.start()
    clock = FixedClock(NOW)
    with factory.begin() as s:
        cycles.publish_cycle(s, admin, cycle.id, now=NOW)
    with factory.begin() as s:
        actor = s.get(User, nominator.id)
        won = nominations.create_nomination(s, actor, cycle.id, nominee_id=winner.id,
                                            justification="Carried the release.", clock=clock)
        lost = nominations.create_nomination(s, actor, cycle.id, nominee_id=loser.id,
                                             justification="Helped with the release.", clock=clock)
        # A nomination by the manager: the admin decides it, the manager is not told of it.
        by_manager = nominations.create_nomination(s, s.get(User, manager.id), cycle.id, nominee_id=nominator.id,
                                                   justification="Mentors the whole team.", clock=clock)
    with factory.begin() as s:
        for nomination, value in ((won, 5), (lost, 1)):
            approvals.submit_approval(s, s.get(User, manager.id), nomination.id, decision="approve",
                                      ratings=[{"criterion_id": criterion.id, "value": value}], clock=clock)
    clock.set(cycle.approval_closes_at + timedelta(minutes=1))
    with factory.begin() as s:
        ranking.finalize_cycle(s, s.get(User, admin.id), cycle.id, clock=clock)

    wait_until(lambda: settled(factory), what="every mail sent")
    with factory() as s:
        rows = s.execute(select(Notification, User.email).join(User, User.id == Notification.recipient_id)).all()
    expected = {(email, n.kind) for n, email in rows if n.email_status == "sent"}
    # Who is told what (nobody else: the sink's list is compared as a whole below).
    by_kind: dict[str, set[str]] = {}
    for n, email in rows:
        by_kind.setdefault(n.kind, set()).add(email)
    everyone = {admin.email, manager.email, nominator.email, winner.email, loser.email, quiet.email}
    assert by_kind["cycle_published"] == everyone
    assert by_kind["nomination_created"] == {manager.email, admin.email}
    assert [e for n, e in rows if n.kind == "nomination_created" and n.subject_id == by_manager.id] == [admin.email]
    assert by_kind["nomination_approved"] == {nominator.email}
    assert by_kind["cycle_finalized"] == {winner.email, manager.email}  # never the loser

    assert all(n.email_status == ("not_sent" if e == quiet.email else "sent") for n, e in rows)
    received = sorted((rcpt, mid) for rcpt, mid, _ in sink.received)
    assert received == sorted((e, message_id(n.id, "plaudit@awards.example")) for n, e in rows if e != quiet.email)
    assert len(expected) == len({(e, n.kind) for n, e in rows if e != quiet.email})
    # A mail carries the notification and a link into the web app.
    won_mail = next(m for m in sink.messages if m["Subject"] == f"You won in {cycle.name}")
    assert won_mail["To"].endswith(f"<{winner.email}>")
    text, html = (part.get_content() for part in won_mail.iter_parts())
    assert f"https://plaudit.example/app/cycles/{cycle.id}/results" in text
    assert f'href="https://plaudit.example/app/cycles/{cycle.id}/results"' in html


def test_forgot_password_mails_a_one_time_link_that_is_never_stored(factory, sink, workers):
    import re

    from plaudit.services import notifications, passwords

    with factory.begin() as s:
        user = make_user(s)
        user.email_notifications = False  # a reset is mailed anyway: they asked for it
    with factory.begin() as s:
        notifications.password_reset_requested(s, user.email, now=NOW)
    workers.start()
    wait_until(lambda: len(sink.messages) == 1, what="the reset mail")
    text = sink.messages[0].get_body(("plain",)).get_content()
    token = re.search(r"https://plaudit\.example/app/set-password/(\S+)", text).group(1)
    with factory() as s:
        stored = s.scalars(select(Notification).where(Notification.recipient_id == user.id)).one()
        assert token not in stored.link and token not in stored.body
        link, person = passwords.link_user(s, token, now=datetime.now(UTC))
        assert person.id == user.id and link.purpose == "reset"
