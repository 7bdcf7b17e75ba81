"""Notifications: the user's list (newest first), Mark all as read, the email
preference; and "Forgot password?" on the sign-in page."""

import uuid

from fastapi import Request
from fastapi.responses import Response

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.services import notifications
from plaudit.web import auth
from plaudit.web.forms import text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

PAGE = 50
SENT = ("If that email belongs to a Plaudit account, a link to set a new password is on its way to it. "
        "The link works once, within an hour.")


@router.get("/notifications")
def notifications_page(request: Request, user: auth.PageUser, session: SessionDep, cursor: str = "") -> Response:
    page = notifications.list_notifications(session, user, limit=PAGE, cursor=cursor or None)
    return render(request, "notifications/list.html", {
        "notifications": page.items, "next_cursor": page.next_cursor,
        "preferences": notifications.get_preferences(user),
    })


@router.get("/notifications/{notification_id}")
def open_notification(notification_id: uuid.UUID, user: auth.PageUser, session: SessionDep,
                      clock: ClockDep) -> Response:
    """Opening a notification reads it: marked read, then its page."""
    return auth.redirect(notifications.open_notification(session, user, notification_id, now=clock.now()))


@router.post("/notifications/read")
def mark_all_read(form: auth.Form, user: auth.PageUser, session: SessionDep, clock: ClockDep) -> Response:
    notifications.mark_read(session, user, everything=True, now=clock.now())
    return auth.redirect("/app/notifications", flash="All notifications are marked as read.")


@router.post("/notifications/preferences")
def save_preferences(form: auth.Form, user: auth.PageUser, session: SessionDep) -> Response:
    # An unchecked checkbox is absent from the form.
    wanted = form.get("email_notifications") == "on"
    notifications.set_preferences(session, user, email_notifications=wanted)
    return auth.redirect("/app/notifications", flash="Email notifications are " + ("on." if wanted else "off."))


@router.get("/forgot-password")
def forgot_password_page(request: Request) -> Response:
    return render(request, "notifications/forgot_password.html", {"email": ""})


@router.post("/forgot-password")
def forgot_password(request: Request, form: auth.Form, session: SessionDep, clock: ClockDep) -> Response:
    """The same answer whether or not the email exists."""
    notifications.password_reset_requested(session, text(form, "email"), now=clock.now())
    return auth.redirect("/app/login", flash=SENT)
