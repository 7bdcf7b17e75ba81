"""Keyset pagination, the one way every list pages.

The cursor is the sort key of the last row returned, so page N costs what
page 1 costs: the database seeks straight to the key through an index.
Cursors are opaque to clients: base64url JSON, then "." and an HMAC of it
(`PLAUDIT_SECRET_KEY`), so a cursor the server did not issue is a 422
however well it is forged. The values of one it did issue are checked
against the types of the sort keys too (a cursor from another list).
"""

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, or_, tuple_
from sqlalchemy.orm import Session

from plaudit.config import get_settings
from plaudit.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class SortKey:
    """A column of the order. It must have a Python type (give an SQL
    function one: `func.lower(Team.name, type_=String)`): a cursor's values
    are checked against it."""

    column: ColumnElement[Any]
    descending: bool = False

    def __post_init__(self) -> None:
        try:
            typed = self.column.type.python_type is not object  # NullType's: any value would pass
        except NotImplementedError:
            typed = False
        if not typed:
            raise TypeError(f"sort key {self.column} has no Python type")


def asc(column: ColumnElement[Any]) -> SortKey:
    return SortKey(column, False)


def desc(column: ColumnElement[Any]) -> SortKey:
    return SortKey(column, True)


def keyset_page(
    session: Session,
    stmt: Select[Any],
    keys: Sequence[SortKey],
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    whole_rows: bool = False,
) -> Page[Any]:
    """Run `stmt` (selecting one entity or column) ordered by `keys`, from `cursor`.
    With `whole_rows`, `stmt` may select several columns and the items are
    its rows (the sort keys' values appended after them).

    The last key must make the order total (use the primary key).
    """
    _check_limit(limit)
    if cursor is not None:
        stmt = stmt.where(_after(keys, cursor_values(keys, cursor)))
    rows = session.execute(_ordered(stmt, keys).limit(limit + 1)).all()
    return page_of_rows(rows, keys, limit, whole_rows=whole_rows)


def keyset_statement(stmt: Select[Any], keys: Sequence[SortKey], *, after: bool) -> Select[Any]:
    """`stmt` as `keyset_page` runs it, with bind parameters where it has
    values: `limit` and, `after` a cursor, `key_0`, `key_1`... (keys that are
    never null). For a statement compiled once and run with `keyset_params`."""
    if after:
        stmt = stmt.where(_after(keys, [bindparam(f"key_{i}", type_=k.column.type) for i, k in enumerate(keys)]))
    return _ordered(stmt, keys).limit(bindparam("limit", type_=Integer))


def keyset_params(keys: Sequence[SortKey], cursor: str | None, limit: int) -> dict[str, Any]:
    """The parameters of a `keyset_statement` for one page (the checks of `keyset_page`)."""
    _check_limit(limit)
    values = cursor_values(keys, cursor) if cursor is not None else []
    return {"limit": limit + 1, **{f"key_{i}": value for i, value in enumerate(values)}}


def page_of_rows(rows: Sequence[Any], keys: Sequence[SortKey], limit: int, *, whole_rows: bool = False) -> Page[Any]:
    """The page of the `limit + 1` rows a keyset statement returned (each
    ending with its sort keys' values): its items and the next page's cursor."""
    more = len(rows) > limit
    rows = rows[:limit]
    items = list(rows) if whole_rows else [row[0] for row in rows]
    next_cursor = encode_cursor(list(rows[-1][-len(keys):])) if more and rows else None
    return Page(items=items, next_cursor=next_cursor)


def cursor_values(keys: Sequence[SortKey], cursor: str) -> list[Any]:
    """The sort key values in `cursor`, checked against `keys` (`validation_error` otherwise)."""
    values = decode_cursor(cursor, len(keys))
    _check_types(keys, values)
    return values


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}",
            errors=[{"loc": ["query", "limit"], "msg": f"must be between 1 and {MAX_LIMIT}"}],
        )


def _ordered(stmt: Select[Any], keys: Sequence[SortKey]) -> Select[Any]:
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    return stmt.add_columns(*(k.column for k in keys)).order_by(*order)


def _after(keys: Sequence[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order given by `keys`.

    The first key's bound is also stated on its own (`first >= value`): it is
    implied, but a planner can seek an index of that column with it when the
    other keys come from elsewhere (a joined table, a count)."""
    first, value = keys[0], values[0]
    bound = []
    if len(keys) > 1 and value is not None:
        bound.append(first.column <= value if first.descending else first.column >= value)
    if len({k.descending for k in keys}) == 1:
        # One direction: a row-value comparison, which an index can seek.
        left = tuple_(*(k.column for k in keys))
        right = tuple_(*values)
        return and_(*bound, left < right if first.descending else left > right)
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == values[j] for j in range(i)]
        step = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal, step))
    return and_(*bound, or_(*clauses))


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor is not valid for this list",
        errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )


def _check_types(keys: Sequence[SortKey], values: list[Any]) -> None:
    """A cursor's values must have the Python types of the sort columns (a
    cursor issued by another list), so it is a 422 here and never reaches the
    database as a malformed comparison (a 500)."""
    for key, value in zip(keys, values, strict=True):
        expected = key.column.type.python_type
        if value is None:
            continue
        if isinstance(value, bool) and expected is not bool:
            raise _invalid_cursor()
        if not isinstance(value, expected):
            raise _invalid_cursor()


def encode_cursor(values: list[Any]) -> str:
    return seal(json.dumps([_tag(v) for v in values], separators=(",", ":")).encode())


def seal(raw: bytes) -> str:
    """`raw` as a cursor: base64url (no padding), "." and its MAC."""
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_mac(payload)}"


def _mac(payload: str) -> str:
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"plaudit cursor:" + payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    """The values encoded in `cursor`; `validation_error` for anything that is
    not a cursor of `width` keys made by `encode_cursor`."""
    try:
        payload, _, mac = cursor.partition(".")
        if not hmac.compare_digest(mac.encode("ascii"), _mac(payload).encode()):
            raise ValueError("not issued here")
        raw = base64.urlsafe_b64decode(payload.encode("ascii") + b"=" * (-len(payload) % 4))
        decoded = json.loads(raw)
        if not isinstance(decoded, list) or len(decoded) != width:
            raise ValueError("wrong shape")
        return [_untag(v) for v in decoded]
    except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation, RecursionError, binascii.Error):
        raise _invalid_cursor() from None


def _tag(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    raise TypeError(f"cannot page on {type(value).__name__}")


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        if not isinstance(text, str):
            raise ValueError("tagged value must be a string")
        if tag == "u":
            return uuid.UUID(text)
        if tag == "t":
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                raise ValueError("naive time in cursor")
            return parsed
        if tag == "d":
            number = Decimal(text)
            if not number.is_finite() or abs(number.adjusted()) > 1000:
                raise ValueError("decimal out of range")
            return number
        raise ValueError("unknown tag")
    if isinstance(value, str) and ("\x00" in value or not _encodable(value)):
        raise ValueError("text PostgreSQL cannot hold")  # NUL, or a lone surrogate
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ValueError("integer out of range")
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    raise ValueError("bad value")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
