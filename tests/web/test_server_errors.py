"""An unexpected server error, provoked honestly: a fault injected into the
database under the real app (a trigger that raises, a column that is not
there), on real paths of the API and of the web app. API.md: a `500`
`internal_error` problem that shows no trace and no SQL. WEB.md: an error
page is a page of the app, in words, with a way back, never a trace.

(tests/api/test_platform.py covers the API's 500 through test-only routes;
here the fault is in PostgreSQL, reached through the services.)"""

import socket

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from plaudit.api.app import create_app
from plaudit.db.session import make_engine
from plaudit.services import notifications
from plaudit.web.auth import SESSION_COOKIE
from tests.factories import auth, make_token
from tests.helpers import assert_problem
from tests.web.test_notifications_pages import publish

# What a trace or the failed statement would show.
LEAKS = ("Traceback", "injected fault", "RAISE", "UPDATE", "SELECT", "notifications.", "title_gone",
         "psycopg", "sqlalchemy", "InternalError", "ProgrammingError", ".py", "File \"")


@pytest.fixture
def failing_update(session):
    """Every UPDATE of a notification raises, as a bug in a trigger would (SQLSTATE P0001,
    not one the app maps to a 4xx or a 503). Rolled back with the test."""
    session.execute(text(
        "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'injected fault: % on %', TG_OP, TG_TABLE_NAME; END $$"
    ))
    session.execute(text("CREATE TRIGGER injected_fault BEFORE UPDATE ON notifications"
                         " FOR EACH ROW EXECUTE FUNCTION injected_fault()"))


def assert_no_leak(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, leak


def assert_error_page(response, me) -> None:
    """A 500 page of the app: its layout with the signed-in user, one h1 in words, a way back."""
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.count("<h1") == 1 and "<h1>Something went wrong</h1>" in page
    assert "An unexpected error occurred. It has been logged; please try again." in page
    assert '<a href="/app/">Back to Home</a>' in page
    assert f'<a href="/app/me">{me.display_name}</a>' in page and '<nav aria-label="Main">' in page
    assert_no_leak(page)


def test_a_database_fault_under_the_api_is_a_500_problem_without_trace_or_sql(client, session, person,
                                                                               failing_update):
    me = person()
    publish(session, 1)
    response = client.post("/me/notifications/read", json={"all": True},
                           headers={**auth(make_token(session, me)), "X-Request-ID": "fault-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body == {"type": "urn:plaudit:problem:internal_error", "title": "Internal Server Error", "status": 500,
                    "detail": "an unexpected error occurred; it has been logged", "code": "internal_error"}
    assert response.headers["x-request-id"] == "fault-1"
    assert_no_leak(response.text)
    assert notifications.unread_count(session, me) == 1  # nothing was marked read


def test_a_database_fault_behind_a_form_is_a_500_page_of_the_app(browser, session, person, failing_update):
    me = person()
    publish(session, 1)
    browser.sign_in(me)
    response = browser.post("/app/notifications/read", page="/app/notifications")
    assert_error_page(response, me)
    assert notifications.unread_count(session, me) == 1


def test_a_database_fault_behind_a_page_is_a_500_page_of_the_app(browser, session, person):
    me = person()
    publish(session, 1)
    browser.sign_in(me)
    assert browser.get("/app/notifications").status_code == 200
    session.execute(text("ALTER TABLE notifications RENAME COLUMN title TO title_gone"))
    assert_error_page(browser.get("/app/notifications"), me)


def test_the_database_away_is_a_503_page_not_a_500():
    """As the API's 503 `database_unavailable`: a page whose database cannot
    be reached is a page saying so, with `Retry-After`, not "Something went wrong"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    engine = make_engine(f"postgresql+psycopg://plaudit@127.0.0.1:{port}/plaudit", serving=True)
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as client:
        client.cookies.set(SESSION_COOKIE, "x" * 43)
        response = client.get("/app/notifications", follow_redirects=False)
    engine.dispose()
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert "<h1>Plaudit is busy</h1>" in response.text and '<a href="/app/">Back to Home</a>' in response.text
    assert_no_leak(response.text)
