"""The Notifications page, the header's unread count, and "Forgot password?"."""

from sqlalchemy import select

from plaudit.models import Notification
from plaudit.services import cycles
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_user


def publish(session, n: int) -> list:
    admin = make_user(session, role="admin")
    published = []
    for _ in range(n):
        cycle = make_cycle(session, status="draft")
        make_criterion(session, cycle)
        published.append(cycles.publish_cycle(session, admin, cycle.id, now=NOW))
    return published


def test_the_page_lists_notifications_and_the_header_counts_the_unread(browser, person, session):
    me = person()
    first, second = publish(session, 2)
    session.execute(Notification.__table__.update().where(Notification.subject_id == first.id)
                    .values(created_at=Notification.created_at - NOW.resolution * 1000))
    browser.sign_in(me)
    page = browser.get("/app/notifications").text
    assert "<h1>Notifications</h1>" in page, page[page.index("<main"):]
    assert ">Notifications <span class=\"count\">2</span>" in page
    assert page.index(f"Nominations are open: {second.name}") < page.index(f"Nominations are open: {first.name}")

    mine = session.scalars(select(Notification).where(Notification.recipient_id == me.id,
                                                      Notification.subject_id == first.id)).one()
    opened = browser.get(f"/app/notifications/{mine.id}")
    assert opened.status_code == 303 and opened.headers["location"] == f"/app/cycles/{first.id}/nominate"
    assert ">Notifications <span class=\"count\">1</span>" in browser.get("/app/").text

    done = browser.post("/app/notifications/read", page="/app/notifications")
    assert done.status_code == 303
    assert ">Notifications</a>" in browser.get("/app/notifications").text  # no count when none is unread


def test_another_users_notification_is_a_404(browser, person, session):
    other = make_user(session)
    publish(session, 1)
    theirs = session.scalars(select(Notification.id).where(Notification.recipient_id == other.id)).one()
    browser.sign_in(person())
    assert browser.get(f"/app/notifications/{theirs}").status_code == 404


def test_the_email_checkbox_saves_the_preference(browser, person, session):
    me = person()
    browser.sign_in(me)
    page = browser.get("/app/notifications").text
    assert 'name="email_notifications" type="checkbox" checked' in page
    assert "Email me notifications" in page and ">Save<" in page
    browser.post("/app/notifications/preferences", {}, page="/app/notifications")  # unchecked
    session.refresh(me)
    assert me.email_notifications is False
    assert 'type="checkbox" checked' not in browser.get("/app/notifications").text
    browser.post("/app/notifications/preferences", {"email_notifications": "on"}, page="/app/notifications")
    session.refresh(me)
    assert me.email_notifications is True


def test_forgot_password_answers_the_same_whether_or_not_the_email_exists(browser, person, session):
    me = person()
    assert "Forgot password?" in browser.get("/app/login").text
    answers = []
    for email in (me.email.upper(), "nobody@example.org"):
        response = browser.post("/app/forgot-password", {"email": email})
        assert response.status_code == 303 and response.headers["location"] == "/app/login"
        answers.append(browser.get("/app/login").text)
    assert answers[0] == answers[1] and "a link to set a new password is on its way" in answers[0]
    resets = session.scalars(select(Notification).where(Notification.kind == "password_reset")).all()
    assert [n.recipient_id for n in resets] == [me.id]
    # Asked again at once: no second mail (one per user per ten minutes).
    browser.post("/app/forgot-password", {"email": me.email})
    assert len(session.scalars(select(Notification).where(Notification.kind == "password_reset")).all()) == 1
