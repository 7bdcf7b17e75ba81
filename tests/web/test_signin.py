"""Signing in (WEB.md "Signing in"): passwords, links, sessions, CSRF, the throttle."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from plaudit.config import get_settings
from plaudit.models import WebSession
from plaudit.services import passwords
from plaudit.services.users import update_user
from tests.helpers import audit_rows, row_count
from tests.web.conftest import PASSWORD

WRONG = "Email or password is wrong"


def test_signed_out_pages_redirect_to_sign_in_and_back(browser, person):
    user = person()
    response = browser.get("/app/me?tab=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=" + quote("/app/me?tab=1")
    page = browser.get(response.headers["location"])
    assert 'name="next" value="/app/me?tab=1"' in page.text
    signed_in = browser.client.post("/app/login", data={
        "email": user.email.upper(), "password": PASSWORD, "next": "/app/me?tab=1",
        "csrf_token": browser.csrf("/app/login")}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/app/me?tab=1"


def test_root_opens_the_web_app(browser):
    assert browser.get("/").headers["location"] == "/app/"
    assert browser.get("/app/").headers["location"].startswith("/app/login")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/app//evil.example"])
def test_next_never_leaves_the_app(browser, person, target):
    user = person()
    response = browser.client.post("/app/login", data={
        "email": user.email, "password": PASSWORD, "next": target, "csrf_token": browser.csrf("/app/login")},
        follow_redirects=False)
    assert response.headers["location"] == "/app/"


def test_wrong_password_and_unknown_email_get_the_same_answer(browser, person):
    user = person()
    wrong_password = browser.post("/app/login", {"email": user.email, "password": "not the password!"})
    unknown_email = browser.post("/app/login", {"email": "nobody@example.org", "password": PASSWORD})
    inactive = person(is_active=False)
    inactive_user = browser.post("/app/login", {"email": inactive.email, "password": PASSWORD})
    for response in (wrong_password, unknown_email, inactive_user):
        assert response.status_code == 401
        assert WRONG in response.text
        assert "plaudit_session" not in response.headers.get("set-cookie", "")


def test_session_cookie_flags(browser, person):
    cookie = browser.sign_in(person()).headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("plaudit_session="))
    flags = {part.strip().lower() for part in session_cookie.split(";")}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/app" in flags
    assert "secure" not in flags  # PLAUDIT_BASE_URL is http here


def test_session_cookie_is_secure_when_the_base_url_is_https(browser, person, monkeypatch):
    user, token = person(), browser.csrf("/app/login")
    monkeypatch.setenv("PLAUDIT_BASE_URL", "https://plaudit.example.org")
    get_settings.cache_clear()
    try:
        cookie = browser.client.post("/app/login", data={"email": user.email, "password": PASSWORD,
                                                         "csrf_token": token},
                                     follow_redirects=False).headers.get_list("set-cookie")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    session_cookie = next(c for c in cookie if c.startswith("plaudit_session="))
    assert "secure" in {part.strip().lower() for part in session_cookie.split(";")}


def test_sessions_are_stored_only_as_hashes(browser, person, session):
    browser.sign_in(person())
    secret = browser.client.cookies["plaudit_session"]
    stored = session.scalars(select(WebSession.token_hash)).all()
    assert passwords.digest(secret) in stored
    assert all(secret.encode() not in h for h in stored)


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(browser, person, session):
    user = person()
    browser.sign_in(user)
    form = {"current_password": PASSWORD, "new_password": "a brand new password", "repeat_password":
            "a brand new password"}
    for token in (None, "forged", browser.csrf("/app/me")[:-2] + "xx"):
        data = form if token is None else {**form, "csrf_token": token}
        response = browser.client.post("/app/me/password", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "This form has expired" in response.text
    assert audit_rows(session, entity_id=user.id, action="user.password_change") == []
    assert browser.get("/app/me").status_code == 200  # still signed in with the old session


def test_csrf_token_of_another_session_is_refused(browser, new_browser, person):
    browser.sign_in(person())
    other = new_browser()
    other.sign_in(person())
    response = browser.client.post("/app/logout", data={"csrf_token": other.csrf("/app/me")},
                                   follow_redirects=False)
    assert response.status_code == 403


def test_sign_out_ends_the_session(browser, person, session):
    browser.sign_in(person())
    secret = browser.client.cookies["plaudit_session"]
    assert browser.post("/app/logout", page="/app/me").headers["location"] == "/app/login"
    browser.client.cookies.set("plaudit_session", secret, path="/app")  # a copy of the old cookie
    assert browser.get("/app/me").status_code == 303
    assert row_count(session, WebSession) == 0


def test_deactivation_ends_every_session_of_the_user(new_browser, person, session):
    user, admin = person(), person("admin")
    first, second = new_browser(), new_browser()
    first.sign_in(user)
    second.sign_in(user)
    update_user(session, admin, user.id, is_active=False)
    session.flush()
    assert first.get("/app/me").status_code == 303
    assert second.get("/app/me").status_code == 303
    update_user(session, admin, user.id, is_active=True)
    session.flush()
    assert first.get("/app/me").status_code == 303  # reactivation brings no session back


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(new_browser, person, session):
    user = person()
    here, elsewhere = new_browser(), new_browser()
    here.sign_in(user)
    elsewhere.sign_in(user)
    response = here.post("/app/me/password", {"current_password": PASSWORD, "new_password": "another long secret",
                                              "repeat_password": "another long secret"}, page="/app/me")
    assert response.status_code == 303
    assert here.get("/app/me").status_code == 200
    assert elsewhere.get("/app/me").status_code == 303
    assert len(audit_rows(session, entity_id=user.id, action="user.password_change")) == 1
    other = new_browser()
    assert other.post("/app/login", {"email": user.email, "password": PASSWORD}).status_code == 401
    other.sign_in(user, "another long secret")


def test_change_password_refusals_are_shown_next_to_their_fields(browser, person, session):
    user = person()
    browser.sign_in(user)
    wrong = browser.post("/app/me/password", {"current_password": "nope", "new_password": "another long secret",
                                              "repeat_password": "another long secret"}, page="/app/me")
    assert wrong.status_code == 422 and 'id="e-current_password"' in wrong.text
    short = browser.post("/app/me/password", {"current_password": PASSWORD, "new_password": "short",
                                              "repeat_password": "short"}, page="/app/me")
    assert 'id="e-new_password"' in short.text and "at least 12 characters" in short.text
    mismatch = browser.post("/app/me/password", {"current_password": PASSWORD, "new_password": "long enough pass",
                                                 "repeat_password": "long enough pasS"}, page="/app/me")
    assert 'id="e-repeat_password"' in mismatch.text
    assert audit_rows(session, entity_id=user.id, action="user.password_change") == []


def test_idle_and_absolute_timeouts(new_browser, person, clock):
    user = person()
    idle = new_browser()
    idle.sign_in(user)
    clock.advance(timedelta(hours=7, minutes=59))
    assert idle.get("/app/me").status_code == 200  # and the visit moves the idle deadline
    clock.advance(timedelta(hours=7, minutes=59))
    assert idle.get("/app/me").status_code == 200
    clock.advance(timedelta(hours=8))
    assert idle.get("/app/me").status_code == 303

    busy = new_browser()
    busy.sign_in(user)
    for _ in range(7 * 4):
        clock.advance(timedelta(hours=6))
        if busy.get("/app/me").status_code != 200:
            break
    assert busy.get("/app/me").status_code == 303  # at most 7 days however busy


def test_invite_link_sets_a_password_once_and_signs_in(browser, new_browser, person, session, clock):
    user = person()
    secret = passwords.issue_link(session, None, user, now=clock.now())
    page = browser.get(f"/app/set-password/{secret}")
    assert page.status_code == 200 and user.email in page.text
    done = browser.post(f"/app/set-password/{secret}", {"new_password": "my own good password",
                                                        "repeat_password": "my own good password"})
    assert done.status_code == 303 and done.headers["location"] == "/app/"
    assert browser.get("/app/me").status_code == 200
    again = new_browser().get(f"/app/set-password/{secret}")
    assert again.status_code == 404 and "does not work" in again.text
    assert [r.payload for r in audit_rows(session, entity_id=user.id, action="user.password_set")] == [
        {"via": "invite link"}]
    new_browser().sign_in(user, "my own good password")


def test_invite_link_expires_after_72_hours(browser, person, session, clock):
    user = person()
    secret = passwords.issue_link(session, None, user, now=clock.now())
    clock.advance(timedelta(hours=72))
    assert browser.get(f"/app/set-password/{secret}").status_code == 404


def test_throttle_after_five_failures_in_fifteen_minutes(new_browser, person, session, clock):
    user = person()
    browser = new_browser()
    for _ in range(5):
        assert browser.post("/app/login", {"email": user.email, "password": "wrong password!"}).status_code == 401
        clock.advance(timedelta(minutes=2))
    refused = browser.post("/app/login", {"email": user.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.text and "<time datetime=" in refused.text
    assert new_browser().post("/app/login", {"email": user.email, "password": PASSWORD}).status_code == 429
    locked = audit_rows(session, entity_id=user.id, action="user.sign_in_locked")
    assert len(locked) == 1 and locked[0].actor_id is None
    clock.advance(timedelta(minutes=15))  # 15 minutes after the 5th failure
    new_browser().sign_in(user)


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(browser, person, clock):
    user = person()
    for _ in range(5):
        browser.post("/app/login", {"email": user.email, "password": "wrong password!"})
        clock.advance(timedelta(minutes=4))
    browser.sign_in(user)


def test_throttle_counts_unknown_emails_too(browser):
    for _ in range(5):
        browser.post("/app/login", {"email": "ghost@example.org", "password": "whatever it is"})
    assert browser.post("/app/login", {"email": "GHOST@example.org", "password": "x"}).status_code == 429
