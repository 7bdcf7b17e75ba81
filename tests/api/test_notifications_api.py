"""HTTP: /me/notifications, /me/preferences, /notifications/outbox (API.md)."""

import uuid
from datetime import timedelta

from sqlalchemy import select

from plaudit.models import Notification
from plaudit.services import cycles
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_user
from tests.helpers import as_role, assert_problem, audit_rows


def publish(session, admin, n: int = 1) -> list:
    published = []
    for _ in range(n):
        cycle = make_cycle(session, status="draft")
        make_criterion(session, cycle)
        published.append(cycles.publish_cycle(session, admin, cycle.id, now=NOW))
    return published


def test_the_inbox_lists_newest_first_with_the_unread_count(client, session):
    user, headers = as_role(session)
    admin = make_user(session, role="admin")
    first, second = publish(session, admin, 2)
    session.execute(
        Notification.__table__.update().where(Notification.subject_id == first.id)
        .values(created_at=Notification.created_at - timedelta(minutes=1))
    )

    response = client.get("/me/notifications", headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Unread-Count"] == "2"
    items = response.json()["items"]
    assert [i["title"] for i in items] == [f"Nominations are open: {c.name}" for c in (second, first)]
    item = items[0]
    assert set(item) == {"id", "kind", "title", "body", "link", "created_at", "read_at", "email_status"}
    assert item["kind"] == "cycle_published" and item["read_at"] is None and item["email_status"] == "not_sent"
    assert item["link"] == f"http://127.0.0.1:8000/app/cycles/{second.id}/nominate"

    page = client.get("/me/notifications", params={"limit": 1}, headers=headers).json()
    rest = client.get("/me/notifications", params={"limit": 1, "cursor": page["next_cursor"]}, headers=headers)
    assert [i["id"] for i in page["items"] + rest.json()["items"]] == [i["id"] for i in items]


def test_marking_read_by_ids_or_all_is_idempotent_and_ignores_others(client, session):
    user, headers = as_role(session)
    other, other_headers = as_role(session)
    admin = make_user(session, role="admin")
    publish(session, admin, 3)
    mine = client.get("/me/notifications", headers=headers).json()["items"]
    theirs = client.get("/me/notifications", headers=other_headers).json()["items"]

    for _ in range(2):
        response = client.post("/me/notifications/read", json={"ids": [mine[0]["id"], theirs[0]["id"]]},
                               headers=headers)
        assert response.status_code == 204 and response.content == b""
    unread = client.get("/me/notifications", params={"unread": "true"}, headers=headers)
    assert unread.headers["X-Unread-Count"] == "2"
    assert {i["id"] for i in unread.json()["items"]} == {mine[1]["id"], mine[2]["id"]}
    assert client.get("/me/notifications", headers=other_headers).headers["X-Unread-Count"] == "3"

    assert client.post("/me/notifications/read", json={"all": True}, headers=headers).status_code == 204
    listed = client.get("/me/notifications", headers=headers)
    assert listed.headers["X-Unread-Count"] == "0"
    assert all(i["read_at"] == "2030-01-10T12:00:00Z" for i in listed.json()["items"])
    assert client.post("/me/notifications/read", json={"ids": [str(uuid.uuid4())]}, headers=headers).status_code == 204


def test_marking_read_needs_exactly_one_of_ids_or_all(client, session):
    _, headers = as_role(session)
    for body in ({}, {"all": True, "ids": []}, {"all": False}, {"ids": ["nope"]}, {"ids": [], "extra": 1}):
        assert_problem(client.post("/me/notifications/read", json=body, headers=headers), 422, "validation_error")


def test_notification_paths_need_a_token(client):
    for method, path in (("GET", "/me/notifications"), ("POST", "/me/notifications/read"),
                         ("GET", "/me/preferences"), ("PATCH", "/me/preferences"),
                         ("GET", "/notifications/outbox")):
        assert_problem(client.request(method, path, json={}), 401, "unauthenticated")


def test_preferences_read_and_turn_email_off(client, session):
    user, headers = as_role(session)
    assert client.get("/me/preferences", headers=headers).json() == {"email_notifications": True}
    response = client.patch("/me/preferences", json={"email_notifications": False}, headers=headers)
    assert response.status_code == 200 and response.json() == {"email_notifications": False}
    assert client.get("/me/preferences", headers=headers).json() == {"email_notifications": False}
    assert len(audit_rows(session, entity_id=user.id, action="user.update")) == 1
    for body in ({}, {"email_notifications": "no"}, {"email_notifications": True, "role": "admin"}):
        assert_problem(client.patch("/me/preferences", json=body, headers=headers), 422, "validation_error")


def test_the_outbox_is_for_admins_and_filters_by_email_status(client, session):
    admin, admin_headers = as_role(session, "admin")
    employee, headers = as_role(session)
    publish(session, admin)
    assert_problem(client.get("/notifications/outbox", headers=headers), 403, "forbidden")

    response = client.get("/notifications/outbox", headers=admin_headers)
    assert response.status_code == 200
    entries = response.json()["items"]
    assert {e["recipient_email"] for e in entries} == {admin.email, employee.email}
    assert set(entries[0]) == {"notification_id", "recipient_id", "recipient_email", "kind", "email_status",
                               "attempts", "last_error", "created_at", "sent_at"}
    ids = {e["notification_id"] for e in entries}
    assert ids == {str(i) for i in session.scalars(select(Notification.id))}
    assert client.get("/notifications/outbox", params={"email_status": "not_sent"},
                      headers=admin_headers).json()["items"] != []
    assert client.get("/notifications/outbox", params={"email_status": "failed"},
                      headers=admin_headers).json()["items"] == []
    assert_problem(client.get("/notifications/outbox", params={"email_status": "lost"}, headers=admin_headers),
                   422, "validation_error")
