"""Results, preview and award history (API.md: Results, ResultItem, Award).

Scores and means are fixed-point strings with 6 places (`"4.250000"`),
weights with 4 (`"0.2500"`).
"""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from plaudit.models.enums import ScoreNormalization
from plaudit.schemas.common import Decimal6, Out, StrictBody, Weight4
from plaudit.schemas.cycles import WeightIn


class CriterionScore(BaseModel):
    """One criterion of a nominee's breakdown: the criterion as it was at
    finalization (name, weight) and the nominee's `criterion_mean`."""

    criterion_id: uuid.UUID
    name: str
    weight: Weight4
    mean: Decimal6


class ResultItem(Out):
    rank: int
    nominee_id: uuid.UUID
    nominee_name: str
    team_id: uuid.UUID | None
    score: Decimal6
    approved_nominations: int
    is_winner: bool
    spread: Decimal6 | None = None
    tie_break: Literal["score", "approved_nominations", "name"] | None = None
    criteria: list[CriterionScore]


class Results(BaseModel):
    """A cycle's ranking, in ranking order. `finalized_at` and
    `inputs_digest` (`plaudit.services.results_digest`) are null for a preview;
    `pending_nominations` counts the nominations still undecided (at
    finalization they stay so: the cycle is read-only), which do not count."""

    cycle_id: uuid.UUID
    cycle_name: str
    finalized_at: datetime | None
    award_slots: int
    pending_nominations: int
    inputs_digest: str | None = None
    items: list[ResultItem]


class Award(Out):
    """One of a user's result rows, with the cycle it belongs to."""

    cycle_id: uuid.UUID
    cycle_name: str
    finalized_at: datetime
    rank: int
    score: Decimal6
    approved_nominations: int
    is_winner: bool


class WhatIf(StrictBody):
    """`POST /cycles/{id}/preview`: other weights (one per criterion of the
    cycle, summing to 1) and/or another normalisation; either may be left out."""

    weights: dict[uuid.UUID, WeightIn] | None = Field(default=None, max_length=10000)
    normalization: ScoreNormalization | None = None
