"""Shared schema pieces: strict request bodies, fixed-point decimals, pages."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer

T = TypeVar("T")


class StrictBody(BaseModel):
    """Request bodies: unknown or server-owned fields are a validation error."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Response bodies, built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _fixed(places: int):
    quantum = Decimal(1).scaleb(-places)
    return PlainSerializer(lambda d: str(Decimal(d).quantize(quantum, rounding=ROUND_HALF_UP)), return_type=str, when_used="always")


# Weights are shown with 4 places ("0.2500"), scores and means with 6 ("4.250000").
Weight4 = Annotated[Decimal, _fixed(4)]
Decimal6 = Annotated[Decimal, _fixed(6)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class Items(BaseModel, Generic[T]):
    """An unpaged list: `{"items": [...]}`."""

    items: list[T]
