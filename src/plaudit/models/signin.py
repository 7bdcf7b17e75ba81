"""Signing in to the web app: passwords, one-time set-password links, browser
sessions and the record of failed attempts. Every secret is kept only as a
digest (Argon2id for passwords, SHA-256 for random 256-bit secrets)."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, CreatedAt, UUIDPrimaryKey


class Credential(Base):
    """A user's password, as an Argon2id hash (one per user; none until set)."""

    __tablename__ = "credentials"
    __table_args__ = (CheckConstraint("starts_with(password_hash, '$argon2id$')", name="argon2id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime]


class PasswordLink(UUIDPrimaryKey, CreatedAt, Base):
    """A one-time link to set a password: an invitation (72 hours) or a reset."""

    __tablename__ = "password_links"
    __table_args__ = (
        CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
        CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    purpose: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(UUIDPrimaryKey, Base):
    """A signed-in browser. Ending a session deletes its row; a trigger
    deletes a user's sessions when the user is deactivated."""

    __tablename__ = "web_sessions"
    __table_args__ = (CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class SignInFailure(Base):
    """One failed sign-in for an email (known or not): the throttle counts these."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_email_occurred_at", "email", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    email: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime]
