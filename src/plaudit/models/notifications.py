"""The notification outbox: one row per (event, recipient), read in-app and mailed by workers."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, CreatedAt, UUIDPrimaryKey
from plaudit.models.enums import sql_in


class NotificationKind(StrEnum):
    """What happened; with `subject_id` (the cycle or nomination) it names the event."""

    cycle_published = "cycle_published"
    nomination_created = "nomination_created"
    nomination_approved = "nomination_approved"
    nomination_rejected = "nomination_rejected"
    nomination_reminder = "nomination_reminder"
    approval_reminder = "approval_reminder"
    cycle_finalized = "cycle_finalized"
    password_reset = "password_reset"


class EmailStatus(StrEnum):
    not_sent = "not_sent"  # email off for the user, or no SMTP configured when it was written
    queued = "queued"
    sent = "sent"
    failed = "failed"


class Notification(UUIDPrimaryKey, CreatedAt, Base):
    """Title, body and link are written with the event (names as they were then).
    `(kind, subject_id, recipient_id)` is the unique key that makes every
    fan-out and reminder idempotent; it also serves the worker, which sends
    one event's mails at a time."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(sql_in("kind", NotificationKind), name="kind"),
        CheckConstraint(sql_in("email_status", EmailStatus), name="email_status"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("uq_notifications_event_recipient", "kind", "subject_id", "recipient_id", unique=True),
        Index("ix_notifications_recipient_created", "recipient_id", "created_at", "id"),
        Index("ix_notifications_email_status_created", "email_status", "created_at", "id"),
    )

    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text)  # a path into the web app, e.g. /app/approvals
    read_at: Mapped[datetime | None]
    email_status: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
