"""Shared schema pieces: strict request bodies, fixed-point decimals, pages."""

import json
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

T = TypeVar("T")


def _iso_text(value: Any) -> Any:
    """Times arrive as ISO 8601 text (API.md); pydantic alone would also take a
    number, or a string of digits, as a Unix timestamp."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("must be an ISO 8601 time with an offset, e.g. 2030-01-31T17:00:00Z")
    return value


# A time in a request: ISO 8601 text with an offset (a time without one is a 422).
InputTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


def _date_as_its_start(value: Any) -> Any:
    """A plain date (`2026-12-01`, exactly that shape) is its start, 00:00 UTC."""
    if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
        try:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 time with an offset") from None
    return value


# A time in a query that may also be a plain date, meaning that date's start in UTC (API.md, GET /audit-logs).
InputTimeOrDate = Annotated[AwareDatetime, BeforeValidator(_iso_text), BeforeValidator(_date_as_its_start)]


def _true_or_false(value: Any) -> Any:
    """A boolean in a query string is `true` or `false`, nothing else: pydantic
    alone would also read `yes`, `on`, `1` or `t`."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


# A boolean query parameter (API.md, Text: booleans are booleans). In bodies, use `StrictBool`.
QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]


def _json_boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be a JSON boolean")
    return value


# `true` and nothing else in a body (a Literal alone would also take 1).
JsonTrue = Annotated[Literal[True], BeforeValidator(_json_boolean)]


class StrictBody(BaseModel):
    """Request bodies: unknown or server-owned fields are a validation error,
    and so is text PostgreSQL cannot store (a NUL character, or a lone UTF-16
    surrogate such as JSON's "\\ud800"), anywhere in the body, and a time
    whose UTC equivalent falls outside Python's years 1-9999 (such as
    "9999-12-31T23:59:59-23:59": comparing it with any other time would
    overflow)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        bad = _unstorable_text_at(data)
        if bad is not None:
            where = ".".join(map(str, bad)) or "body"
            raise ValueError(f"text at {where} contains a NUL character or an unpaired surrogate")
        return data

    @model_validator(mode="after")
    def _times_in_utc_range(self) -> "StrictBody":
        for name in type(self).model_fields:
            value = getattr(self, name, None)
            if isinstance(value, datetime) and value.tzinfo is not None:
                try:
                    value.astimezone(UTC)
                except OverflowError:
                    raise ValueError(f"{name}: the time is out of range once converted to UTC") from None
        return self


def _unstorable_text_at(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path of the first string PostgreSQL could not store, else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_text_at(key, (*path, key)) if isinstance(key, str) else None
            if found is None:
                found = _unstorable_text_at(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _unstorable_text_at(item, (*path, i))
            if found is not None:
                return found
    return None


class Out(BaseModel):
    """Response bodies, built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _fixed(places: int):
    quantum = Decimal(1).scaleb(-places)
    return PlainSerializer(
        lambda d: str(Decimal(d).quantize(quantum, rounding=ROUND_HALF_UP)), return_type=str, when_used="always"
    )


# Weights are shown with 4 places ("0.2500"), scores and means with 6 ("4.250000").
Weight4 = Annotated[Decimal, _fixed(4)]
Decimal6 = Annotated[Decimal, _fixed(6)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class Items(BaseModel, Generic[T]):
    """An unpaged list: `{"items": [...]}`."""

    items: list[T]


OutT = TypeVar("OutT", bound=Out)


def page_of(found: Any, schema: type[OutT]) -> Page[OutT]:
    """A service's `paging.Page` of ORM rows as a response page of `schema`."""
    return Page[schema](items=[schema.model_validate(item) for item in found.items], next_cursor=found.next_cursor)


def page_json(found: Any) -> str:
    """A service's `paging.Page` of items already JSON text (built by
    PostgreSQL) as the JSON of a response `Page`."""
    return f'{{"items":[{",".join(found.items)}],"next_cursor":{json.dumps(found.next_cursor)}}}'
