"""Users, teams and API tokens."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey
from plaudit.models.enums import Role, sql_in


class Team(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "teams"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="name_length"),
        Index("uq_teams_lower_name", text("lower(name)"), unique=True),
    )

    name: Mapped[str] = mapped_column(Text)
    # The manager's role (manager or admin) is checked by the service; the
    # foreign key is added after users exists (the two tables refer to each other).
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", use_alter=True), index=True
    )


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email) AND email LIKE '_%@_%'", name="email_lower"),
        CheckConstraint("char_length(email) <= 320", name="email_length"),
        CheckConstraint("char_length(display_name) BETWEEN 1 AND 200", name="display_name_length"),
        CheckConstraint(sql_in("role", Role), name="role"),
        Index("ix_users_display_name_id", "display_name", "id"),
        # The active admins, told of a nomination that has no manager to decide it
        # (on the create-nomination path: that must not scan every user).
        Index("ix_users_active_admins", "id", postgresql_where=text("role = 'admin' AND is_active")),
    )

    # Stored lower-case (CHECK), so the plain unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # Whether notifications are also mailed (GET/PATCH /me/preferences).
    email_notifications: Mapped[bool] = mapped_column(default=True, server_default="true")


class ApiToken(UUIDPrimaryKey, CreatedAt, Base):
    """A personal access token. Only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="name_length"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
