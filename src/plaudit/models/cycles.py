"""Cycles and their weighted criteria."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, Timestamps, UUIDPrimaryKey
from plaudit.models.enums import CycleStatus, Role, ScoreNormalization, sql_in

ALL_ROLES_SQL = "ARRAY[" + ", ".join(repr(r.value) for r in Role) + "]::text[]"


class Cycle(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "cycles"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint("char_length(description) <= 5000", name="description_length"),
        CheckConstraint(sql_in("status", CycleStatus), name="status"),
        CheckConstraint(
            "nomination_opens_at < nomination_closes_at"
            " AND approval_opens_at < approval_closes_at"
            " AND approval_opens_at >= nomination_opens_at"
            " AND approval_closes_at >= nomination_closes_at",
            name="windows",
        ),
        CheckConstraint("0 <= rating_min AND rating_min < rating_max AND rating_max <= 100", name="rating_scale"),
        CheckConstraint("required_approvals BETWEEN 1 AND 10", name="required_approvals"),
        CheckConstraint(
            "max_nominations_per_nominator IS NULL OR max_nominations_per_nominator >= 1",
            name="max_nominations",
        ),
        CheckConstraint("award_slots BETWEEN 1 AND 1000", name="award_slots"),
        CheckConstraint("winner_cooldown_cycles BETWEEN 0 AND 10", name="winner_cooldown_cycles"),
        CheckConstraint(sql_in("score_normalization", ScoreNormalization), name="score_normalization"),
        CheckConstraint(
            f"cardinality(nominator_roles) >= 1 AND nominator_roles <@ {ALL_ROLES_SQL}",
            name="nominator_roles",
        ),
        # Lifecycle stamps agree with the status.
        CheckConstraint("(status = 'draft') = (published_at IS NULL)", name="published_at"),
        CheckConstraint(
            "(status IN ('finalized', 'archived')) = (finalized_at IS NOT NULL)", name="finalized_at"
        ),
        CheckConstraint("(status = 'archived') = (archived_at IS NOT NULL)", name="archived_at"),
        CheckConstraint("inputs_digest ~ '^[0-9a-f]{64}$'", name="inputs_digest_hex"),
        Index("uq_cycles_lower_name", text("lower(name)"), unique=True),
        Index("ix_cycles_created_at_id", "created_at", "id"),
        # The approver's queue reads cycles soonest deadline first, and stops
        # after the page's rows (an incremental sort, not all pending rows).
        Index("ix_cycles_approval_closes_at", "approval_closes_at"),
        # Eligibility reads the most recently finalized cycles.
        Index(
            "ix_cycles_finalized_at_id", "finalized_at", "id", postgresql_where=text("finalized_at IS NOT NULL")
        ),
    )

    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(
        String(20), default=CycleStatus.draft, server_default=CycleStatus.draft.value
    )
    nomination_opens_at: Mapped[datetime]
    nomination_closes_at: Mapped[datetime]
    approval_opens_at: Mapped[datetime]
    approval_closes_at: Mapped[datetime]
    rating_min: Mapped[int] = mapped_column(default=1, server_default="1")
    rating_max: Mapped[int] = mapped_column(default=5, server_default="5")
    required_approvals: Mapped[int] = mapped_column(default=1, server_default="1")
    max_nominations_per_nominator: Mapped[int | None]
    award_slots: Mapped[int] = mapped_column(default=3, server_default="3")
    nominator_roles: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=lambda: [r.value for r in Role], server_default=text(ALL_ROLES_SQL)
    )
    winner_cooldown_cycles: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    score_normalization: Mapped[str] = mapped_column(
        String(20), default=ScoreNormalization.none, server_default=ScoreNormalization.none.value
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    # SHA-256 (hex) of the ranking's inputs, stored at finalization
    # (`plaudit.services.results_digest`).
    inputs_digest: Mapped[str | None] = mapped_column(Text)


class Criterion(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "criteria"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
        CheckConstraint("char_length(description) <= 2000", name="description_length"),
        CheckConstraint("weight > 0 AND weight <= 1", name="weight_range"),
        Index("uq_criteria_cycle_id_lower_name", "cycle_id", text("lower(name)"), unique=True),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # numeric(5,4): at most 4 decimal places, exact.
    weight: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
