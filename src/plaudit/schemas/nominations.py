"""Nominations and approvals: request bodies and response shapes (API.md)."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt

from plaudit.models.enums import Decision, NominationStatus
from plaudit.schemas.common import Out, StrictBody
from plaudit.services.nominations import justification_problem


def _justification(value: str) -> str:
    trimmed = value.strip()
    problem = justification_problem(trimmed)
    if problem:
        raise ValueError(problem)
    return trimmed


# Trimmed, then 10–5000 characters (DOMAIN.md); a 422 validation_error otherwise.
Justification = Annotated[str, AfterValidator(_justification)]


class NominationCreate(StrictBody):
    nominee_id: uuid.UUID
    justification: Justification


class NominationUpdate(StrictBody):
    justification: Justification


class Nomination(Out):
    id: uuid.UUID
    cycle_id: uuid.UUID
    cycle_name: str
    nominator_id: uuid.UUID
    nominator_name: str
    nominee_id: uuid.UUID
    nominee_name: str
    nominee_team_name: str | None
    justification: str
    status: NominationStatus
    approvals_count: int | None = Field(
        description="Decisions recorded so far; null unless the caller may read the nomination's approvals."
    )
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None


class RatingIn(StrictBody):
    criterion_id: uuid.UUID
    # StrictInt: 4.5, 4.0, "4" and true are all a 422, never coerced.
    value: StrictInt


class ApprovalSubmit(StrictBody):
    """`comment` is required (non-blank) for `reject`; checked by the service
    (422 `validation_error`). Ratings are checked against the cycle by the
    service (422 `invalid_ratings`)."""

    decision: Decision
    # The length rule (≤ 2000 after trimming) is the service's; this bound only
    # stops absurd bodies early.
    comment: str | None = Field(default=None, max_length=20000)
    ratings: list[RatingIn] | None = Field(default=None, max_length=1000)


class Rating(Out):
    criterion_id: uuid.UUID
    criterion_name: str
    value: int


class Approval(Out):
    id: uuid.UUID
    nomination_id: uuid.UUID
    approver_id: uuid.UUID
    approver_name: str
    decision: Decision
    comment: str | None
    ratings: list[Rating]
    created_at: datetime
    updated_at: datetime


class ApprovalSubmitted(Approval):
    """The PUT response: the approval plus the nomination's status after it."""

    nomination_status: NominationStatus
