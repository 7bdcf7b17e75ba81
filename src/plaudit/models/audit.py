"""The append-only audit log (a trigger refuses UPDATE, DELETE and TRUNCATE)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, query_expression

from plaudit.db.base import Base


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_entity", "entity_type", "entity_id", "seq"),
        Index("ix_audit_logs_actor_id_seq", "actor_id", "seq"),
        Index("ix_audit_logs_action_seq", "action", "seq"),
        Index("ix_audit_logs_occurred_at", "occurred_at"),
        # An approval's rows carry their nomination's id: a nomination's whole
        # story (`nomination_id` filter) without scanning the log.
        Index(
            "ix_audit_logs_payload_nomination_id",
            text("(payload ->> 'nomination_id')"),
            postgresql_where=text("(payload ->> 'nomination_id') IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    # Insertion order: "newest first" is `seq DESC`, stable even within one transaction.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(Text)
    entity_type: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[uuid.UUID]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(Text)

    # The actor's display name (API.md "AuditEntry"): not a column, loaded by
    # the reading query itself (`services.audit.list_audit_logs`).
    actor_name: Mapped[str | None] = query_expression()
