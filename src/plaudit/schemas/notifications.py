"""Notifications, preferences and the mail outbox (API.md "Objects")."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictBool, field_validator, model_validator

from plaudit.config import get_settings
from plaudit.models.notifications import EmailStatus, NotificationKind
from plaudit.paging import MAX_LIMIT
from plaudit.schemas.common import JsonTrue, Out, StrictBody


class Notification(Out):
    id: uuid.UUID
    kind: NotificationKind
    title: str
    body: str
    link: str  # absolute: PLAUDIT_BASE_URL + the stored path
    created_at: datetime
    read_at: datetime | None
    email_status: EmailStatus

    @field_validator("link", mode="before")
    @classmethod
    def _absolute(cls, path: str) -> str:
        return get_settings().base_url.rstrip("/") + path if path.startswith("/") else path


class MarkRead(StrictBody):
    """Either `ids` (the caller's notifications to mark; others are ignored) or `all: true`."""

    ids: Annotated[list[uuid.UUID], Field(max_length=MAX_LIMIT)] | None = None
    all: JsonTrue | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "MarkRead":
        if (self.ids is None) == (self.all is None):
            raise ValueError("give either ids or all: true")
        return self


class Preferences(Out):
    email_notifications: bool


class PreferencesUpdate(StrictBody):
    email_notifications: StrictBool  # a JSON boolean, not "no" or 0


class OutboxEntry(Out):
    notification_id: uuid.UUID
    recipient_id: uuid.UUID
    recipient_email: str
    kind: NotificationKind
    email_status: EmailStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
