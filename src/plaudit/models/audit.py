"""The append-only audit log (a trigger refuses UPDATE, DELETE and TRUNCATE),
its hash chain, and the record of its verifications (append-only too).
The chain's rules are in `plaudit.services.audit_chain`."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    Text,
    Uuid,
    func,
    text,
)
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
        Index("ix_audit_logs_txid_seq", "txid", "seq"),
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
    # The writing transaction's id (64-bit, never wraps): the chain's total
    # order is (txid, seq), and a row is sealed once no transaction below
    # its txid can still be running. 0 for rows written before the chain.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("(pg_current_xact_id())::text::bigint"))


class AuditSeal(Base):
    """One link of the hash chain: the audit row at `position` (1, 2, ... with
    no gap) and `hash = SHA-256(previous hash ‖ canonical text of the row)`.
    `horizon`: every audit row whose txid is below it was sealed at or before
    this position."""

    __tablename__ = "audit_seals"
    __table_args__ = (
        CheckConstraint("position >= 1", name="position_positive"),
        CheckConstraint("octet_length(hash) = 32", name="hash_length"),
    )

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # No foreign key: it would cost sealing a third of its time and protect
    # nothing (the chain is checked by `verify`, which names a missing row).
    audit_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    horizon: Mapped[int] = mapped_column(BigInteger)
    sealed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AuditVerification(Base):
    """The outcome of one `plaudit audit verify`, kept so that pages can show
    the last one without walking the chain."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ok: Mapped[bool] = mapped_column(Boolean)
    sealed: Mapped[int] = mapped_column(BigInteger)
    unsealed: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)
