"""HTTP routes: the caller's notifications and preferences; the mail outbox (admins)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from plaudit.api.deps import ClockDep, CurrentUser, PageDep, SessionDep
from plaudit.api.precedence import AdminUser
from plaudit.api.routing import PlauditRoute
from plaudit.models.notifications import EmailStatus
from plaudit.schemas import notifications as schemas
from plaudit.schemas.common import Page, QueryBool, page_of
from plaudit.services import notifications

router = APIRouter(tags=["notifications"], route_class=PlauditRoute)


@router.get(
    "/me/notifications",
    responses={200: {"headers": {"X-Unread-Count": {"description": "The caller's unread notifications in all",
                                                     "schema": {"type": "integer"}}}}},
)
def list_my_notifications(
    session: SessionDep,
    actor: CurrentUser,
    page: PageDep,
    response: Response,
    unread: Annotated[QueryBool, Query(description="Only those not read yet.")] = False,
) -> Page[schemas.Notification]:
    """The caller's notifications, newest first. Reading the list marks nothing
    read: `POST /me/notifications/read` does."""
    found = notifications.list_notifications(session, actor, unread=unread, limit=page.limit, cursor=page.cursor)
    response.headers["X-Unread-Count"] = str(notifications.unread_count(session, actor))
    return page_of(found, schemas.Notification)


@router.post("/me/notifications/read", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def mark_my_notifications_read(
    body: schemas.MarkRead, session: SessionDep, actor: CurrentUser, clock: ClockDep
) -> Response:
    """Mark `ids` (the caller's; others are ignored) or `all` read. Idempotent."""
    notifications.mark_read(session, actor, ids=body.ids, everything=bool(body.all), now=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/preferences")
def read_my_preferences(actor: CurrentUser) -> schemas.Preferences:
    return schemas.Preferences.model_validate(notifications.get_preferences(actor))


@router.patch("/me/preferences")
def update_my_preferences(
    body: schemas.PreferencesUpdate, session: SessionDep, actor: CurrentUser
) -> schemas.Preferences:
    """Email notifications on or off (in-app notifications always stay)."""
    return schemas.Preferences.model_validate(
        notifications.set_preferences(session, actor, email_notifications=body.email_notifications)
    )


@router.get("/notifications/outbox")
def list_outbox(
    session: SessionDep, actor: AdminUser, page: PageDep, email_status: EmailStatus | None = None
) -> Page[schemas.OutboxEntry]:
    """Every notification's mail, newest first (admins): attempts, the last error, when sent."""
    found = notifications.list_outbox(session, actor, email_status=email_status, limit=page.limit,
                                      cursor=page.cursor)
    return page_of(found, schemas.OutboxEntry)
