"""Nominations, approvals and their per-criterion ratings."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, query_expression

from plaudit.db.base import Base, Timestamps, UUIDPrimaryKey
from plaudit.models.enums import Decision, NominationStatus, sql_in


class Nomination(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "nominations"
    __table_args__ = (
        CheckConstraint("nominator_id <> nominee_id", name="not_self"),
        CheckConstraint(
            # Trimmed like Python's str.strip(): btrim() alone strips spaces only.
            r"char_length(regexp_replace(justification, '^\s+|\s+$', '', 'g')) BETWEEN 10 AND 5000",
            name="justification_length",
        ),
        CheckConstraint(sql_in("status", NominationStatus), name="status"),
        CheckConstraint("(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="withdrawn_at"),
        # One live nomination per (cycle, nominator, nominee); withdrawing frees the pair.
        Index(
            "uq_nominations_live_pair",
            "cycle_id",
            "nominator_id",
            "nominee_id",
            unique=True,
            postgresql_where=text("status <> 'withdrawn'"),
        ),
        Index("ix_nominations_cycle_id_created_at_id", "cycle_id", "created_at", "id"),
        Index("ix_nominations_cycle_id_nominee_id", "cycle_id", "nominee_id"),
        Index("ix_nominations_nominee_id", "nominee_id"),
        Index("ix_nominations_nominator_id_created_at_id", "nominator_id", "created_at", "id"),  # /me/nominations
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cycles.id"))
    nominator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    nominee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(20), default=NominationStatus.pending, server_default=NominationStatus.pending.value
    )
    withdrawn_at: Mapped[datetime | None]

    # Names beside the ids and the decisions so far (API.md "Nomination"):
    # not columns; loaded by the reading query itself (`services.nominations.named`)
    # and kept when an edit or withdrawal is flushed (no change of the row changes them).
    cycle_name: Mapped[str | None] = query_expression(expire_on_flush=False)
    nominator_name: Mapped[str | None] = query_expression(expire_on_flush=False)
    nominee_name: Mapped[str | None] = query_expression(expire_on_flush=False)
    nominee_team_name: Mapped[str | None] = query_expression(expire_on_flush=False)
    approvals_count: Mapped[int | None] = query_expression(expire_on_flush=False)


class Approval(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(sql_in("decision", Decision), name="decision"),
        CheckConstraint("char_length(comment) <= 2000", name="comment_length"),
        CheckConstraint(
            r"decision <> 'reject' OR (comment IS NOT NULL AND comment ~ '\S')",
            name="reject_has_comment",
        ),
        # One approval per approver per nomination (the constraint behind the upsert).
        Index("uq_approvals_nomination_id_approver_id", "nomination_id", "approver_id", unique=True),
    )

    nomination_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nominations.id"))
    approver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)


class ApprovalRating(Base):
    """One integer rating per (approval, criterion); the pair is the key.

    The cycle's own scale is checked by the service; the CHECK holds the
    widest scale any cycle may have (0..100).
    """

    __tablename__ = "approval_ratings"
    __table_args__ = (CheckConstraint("value BETWEEN 0 AND 100", name="value_range"),)

    approval_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), primary_key=True
    )
    criterion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("criteria.id"), primary_key=True, index=True)
    value: Mapped[int] = mapped_column(SmallInteger)
