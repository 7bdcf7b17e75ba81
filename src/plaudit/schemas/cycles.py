"""Cycle and criterion contracts (API.md "Objects").

Request bodies are strict (`StrictBody`): unknown fields and server-owned
ones (`status`, `published_at`, `id`, `cycle_id`, ...) are a 422. Times need
an offset (`InputTime`) and come back in UTC. Window invariants are NOT
checked here: the service reports them as `invalid_windows`.

PATCH bodies declare their fields without `| None`: leaving a field out
means "unchanged", and an explicit `null` is a 422 (except
`max_nominations_per_nominator`, where null means unlimited).
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from plaudit.models import Criterion, Cycle
from plaudit.models.enums import CycleStatus, Role, ScoreNormalization
from plaudit.schemas.common import InputTime, Out, StrictBody, Weight4
from plaudit.services.cycles import approvals_open, nominations_open

INT32_MAX = 2**31 - 1

UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d.astimezone(UTC))]

CycleName = Annotated[str, Field(min_length=1, max_length=200)]
CycleDescription = Annotated[str, Field(max_length=5000)]
# Integers are strict: a JSON integer, not `true` or `"3"`.
RatingBound = Annotated[int, Field(strict=True, ge=0, le=100)]
RequiredApprovals = Annotated[int, Field(strict=True, ge=1, le=10)]
MaxNominations = Annotated[int, Field(strict=True, ge=1, le=INT32_MAX)]
AwardSlots = Annotated[int, Field(strict=True, ge=1, le=1000)]
NominatorRoles = Annotated[list[Role], Field(min_length=1, max_length=20)]
WinnerCooldown = Annotated[int, Field(strict=True, ge=0, le=10)]

CriterionName = Annotated[str, Field(min_length=1, max_length=100)]
CriterionDescription = Annotated[str, Field(max_length=2000)]
# A JSON number or string; exact decimal, 0 < w <= 1, at most 4 places.
WeightIn = Annotated[Decimal, Field(gt=0, le=1, decimal_places=4, allow_inf_nan=False)]
Position = Annotated[int, Field(strict=True, ge=-(2**31), le=INT32_MAX)]


def _all_roles() -> list[Role]:
    return list(Role)


# --- cycles ------------------------------------------------------------------


class CycleCreate(StrictBody):
    name: CycleName
    description: CycleDescription = ""
    nomination_opens_at: InputTime
    nomination_closes_at: InputTime
    approval_opens_at: InputTime
    approval_closes_at: InputTime
    rating_min: RatingBound = 1
    rating_max: RatingBound = 5
    required_approvals: RequiredApprovals = 1
    max_nominations_per_nominator: MaxNominations | None = None
    award_slots: AwardSlots = 3
    nominator_roles: NominatorRoles = Field(default_factory=_all_roles)
    winner_cooldown_cycles: WinnerCooldown = 0
    score_normalization: ScoreNormalization = ScoreNormalization.none


class CycleUpdate(StrictBody):
    """Any settable field; which ones a cycle accepts depends on its status."""

    name: CycleName = None  # type: ignore[assignment]
    description: CycleDescription = None  # type: ignore[assignment]
    nomination_opens_at: InputTime = None  # type: ignore[assignment]
    nomination_closes_at: InputTime = None  # type: ignore[assignment]
    approval_opens_at: InputTime = None  # type: ignore[assignment]
    approval_closes_at: InputTime = None  # type: ignore[assignment]
    rating_min: RatingBound = None  # type: ignore[assignment]
    rating_max: RatingBound = None  # type: ignore[assignment]
    required_approvals: RequiredApprovals = None  # type: ignore[assignment]
    max_nominations_per_nominator: MaxNominations | None = None
    award_slots: AwardSlots = None  # type: ignore[assignment]
    nominator_roles: NominatorRoles = None  # type: ignore[assignment]
    winner_cooldown_cycles: WinnerCooldown = None  # type: ignore[assignment]
    score_normalization: ScoreNormalization = None  # type: ignore[assignment]

    def changes(self) -> dict:
        """Only the fields the client sent."""
        return {field: getattr(self, field) for field in self.model_fields_set}


class CycleOut(Out):
    id: uuid.UUID
    name: str
    description: str
    status: CycleStatus
    nomination_opens_at: UtcDatetime
    nomination_closes_at: UtcDatetime
    approval_opens_at: UtcDatetime
    approval_closes_at: UtcDatetime
    rating_min: int
    rating_max: int
    required_approvals: int
    max_nominations_per_nominator: int | None
    award_slots: int
    nominator_roles: list[Role]
    winner_cooldown_cycles: int
    score_normalization: ScoreNormalization
    nominations_open: bool
    approvals_open: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    published_at: UtcDatetime | None
    finalized_at: UtcDatetime | None
    archived_at: UtcDatetime | None

    @classmethod
    def build(cls, cycle: Cycle, now: datetime) -> "CycleOut":
        """The Cycle object, with the window booleans computed at `now`."""
        data = {name: getattr(cycle, name) for name in cls.model_fields if hasattr(Cycle, name)}
        data["nominations_open"] = nominations_open(cycle, now)
        data["approvals_open"] = approvals_open(cycle, now)
        return cls.model_validate(data)


# --- criteria ----------------------------------------------------------------


class CriterionCreate(StrictBody):
    name: CriterionName
    description: CriterionDescription = ""
    weight: WeightIn
    position: Position | None = None


class CriterionUpdate(StrictBody):
    name: CriterionName = None  # type: ignore[assignment]
    description: CriterionDescription = None  # type: ignore[assignment]
    weight: WeightIn = None  # type: ignore[assignment]
    position: Position = None  # type: ignore[assignment]

    def changes(self) -> dict:
        return {field: getattr(self, field) for field in self.model_fields_set}


class CriteriaReplace(StrictBody):
    items: list[CriterionCreate] = Field(max_length=10000)

    def item_dicts(self) -> list[dict]:
        """Each item with only the fields sent; an omitted or null position
        stays omitted (the service then uses the item's index)."""
        return [
            {k: v for k, v in item.model_dump(exclude_unset=True).items() if not (k == "position" and v is None)}
            for item in self.items
        ]


class CriterionOut(Out):
    id: uuid.UUID
    cycle_id: uuid.UUID
    name: str
    description: str
    weight: Weight4
    position: int

    @classmethod
    def build(cls, criterion: Criterion) -> "CriterionOut":
        return cls.model_validate(criterion)
