"""The results history: one row per ranked nominee of a finalized cycle."""

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, Text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, CreatedAt, UUIDPrimaryKey
from plaudit.models.enums import TieBreak, sql_in


class CycleResult(UUIDPrimaryKey, CreatedAt, Base):
    """A nominee's standing at finalization, frozen: their name and team as they
    were, and a per-criterion breakdown `[{criterion_id, name, weight, mean}]`
    (weight and mean as fixed-point strings) in criterion display order, the
    spread of their approval scores and what put them below the row before."""

    __tablename__ = "cycle_results"
    __table_args__ = (
        CheckConstraint("rank >= 1", name="rank_positive"),
        CheckConstraint("approved_nominations >= 1", name="approved_nominations_positive"),
        CheckConstraint("json_typeof(criteria) = 'array'", name="criteria_array"),
        CheckConstraint("spread >= 0", name="spread_non_negative"),
        CheckConstraint(sql_in("tie_break", TieBreak), name="tie_break"),
        # One row per nominee and cycle; nominee first, so it also finds a person's awards.
        Index("uq_cycle_results_nominee_id_cycle_id", "nominee_id", "cycle_id", unique=True),
        Index("ix_cycle_results_cycle_id_rank", "cycle_id", "rank", "nominee_name", "nominee_id"),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cycles.id"))
    nominee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    nominee_name: Mapped[str] = mapped_column(Text)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"))
    rank: Mapped[int]
    score: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    approved_nominations: Mapped[int]
    is_winner: Mapped[bool]
    # `json`, not `jsonb`: written once as text (`scoring.breakdown_parts`) and
    # only ever read back whole, in its own key order.
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Null on rows finalized before they were computed; tie_break also on the first row.
    spread: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    tie_break: Mapped[str | None] = mapped_column(Text)
