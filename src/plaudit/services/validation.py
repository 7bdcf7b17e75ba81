"""Checks shared by the services: one-field `validation_error`s, text values,
and the unique-index guard that turns a lost race into the precise domain error.

Two text checkers exist on purpose, because their messages are part of the
API's observable behaviour: `clean_text` (cycles, criteria: "must be 1 to 200
characters long") and `normalize_name` (users, teams, tokens: "must not be
blank" / "must be at most 200 characters", raised as ValueError so schemas can
reuse it; `checked_field` turns it into `validation_error`).
"""

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plaudit.errors import DomainError, ValidationFailed

T = TypeVar("T")

NAME_MAX = 200
# Unicode's control characters (category Cc).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# A printable ASCII character other than space: visible (the common case, checked fast).
_ASCII_VISIBLE = re.compile("[!-~]")
# What shows nothing: separators, format and other non-characters, lone
# combining marks; and letters and symbols drawn blank (Hangul fillers, the
# blank Braille pattern).
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible_name(name: str) -> str:
    """`name` itself, or ValueError unless it has a visible character and no
    control character (API.md, Text): a name made of zero-width spaces or
    Hangul fillers would show as nothing."""
    if _CONTROL.search(name):
        raise ValueError("must not contain control characters")
    if not _ASCII_VISIBLE.search(name) and not any(
        unicodedata.category(c) not in _INVISIBLE_CATEGORIES and c not in _BLANK_LOOKING for c in name
    ):
        raise ValueError("must contain a visible character")
    return name


def field_error(field: str, msg: str, *, loc: list[Any] | None = None) -> ValidationFailed:
    """A `validation_error` naming one field (`loc` defaults to body.<field>)."""
    return ValidationFailed(f"{field}: {msg}", errors=[{"loc": loc or ["body", field], "msg": msg}])


def refuse_unknown_fields(given: Iterable[str], allowed: Collection[str], *, loc_prefix: list[Any]) -> None:
    """`validation_error` naming every field of `given` not in `allowed`
    (unknown or read-only), each at `[*loc_prefix, field]`."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValidationFailed(
            f"unknown or read-only fields: {', '.join(unknown)}",
            errors=[{"loc": [*loc_prefix, f], "msg": "extra fields not permitted"} for f in unknown],
        )


def clean_text(value: Any, field: str, *, min_len: int, max_len: int, strip: bool,
               loc: list[Any] | None = None) -> str:
    """A string of `min_len`..`max_len` characters (after trimming when `strip`);
    NUL characters, which PostgreSQL text cannot hold, are refused."""
    if not isinstance(value, str):
        raise field_error(field, "must be a string", loc=loc)
    if strip:
        value = value.strip()
    if "\x00" in value:
        raise field_error(field, "must not contain NUL characters", loc=loc)
    if not min_len <= len(value) <= max_len:
        raise field_error(field, f"must be {min_len} to {max_len} characters long", loc=loc)
    return value


def normalize_name(value: str, *, max_length: int = NAME_MAX) -> str:
    """A name trimmed of surrounding whitespace, 1..max_length characters, or
    ValueError. Control characters (NUL, a bell, a line break...) are refused:
    a name is shown on one line everywhere (API.md, Text)."""
    name = value.strip()
    if not name:
        raise ValueError("must not be blank")
    if "\x00" in name:
        raise ValueError("must not contain NUL characters")
    visible_name(name)
    if len(name) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    return name


def clean_name(value: Any, field: str, *, max_len: int, loc: list[Any] | None = None) -> str:
    """A cycle's or criterion's name: `clean_text` (1..max_len, trimmed), then `visible_name`."""
    name = clean_text(value, field, min_len=1, max_len=max_len, strip=True, loc=loc)
    try:
        return visible_name(name)
    except ValueError as error:
        raise field_error(field, str(error), loc=loc) from None


def checked_field(field: str, normalize: Callable[[Any], T], value: Any) -> T:
    """`normalize(value)`, its ValueError turned into `validation_error` on `field`."""
    try:
        return normalize(value)
    except ValueError as error:
        raise field_error(field, str(error)) from None


@contextmanager
def unique_guard(session: Session, constraint: str, error: DomainError) -> Iterator[None]:
    """Make the changes of the `with` body and flush them in a SAVEPOINT; a
    violation of the unique constraint or index `constraint` (a race the
    service's own check could not see) becomes `error`, and the session stays
    usable.

    The changes must be made INSIDE the body: a savepoint that rolls back
    only forgets what was done within it."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == constraint:
            raise error from None
        raise
