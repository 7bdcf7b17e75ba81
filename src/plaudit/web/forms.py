"""Forms: a service's refusal shown in words next to the field it concerns.

A `DomainError` carries a code and, for `validation_error` and its kin, the
locations of the bad values. `field_errors` turns it into `{field: message}`
for the template: by location when the service gave one, else by the code
(`FIELD_BY_CODE`, adjustable per form), else under `_form` (the summary at
the top of the form, where every error is also listed).
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from plaudit.errors import DomainError

T = TypeVar("T")

FORM = "_form"

FIELD_BY_CODE: dict[str, str] = {
    "self_nomination": "nominee_id",
    "invalid_nominee": "nominee_id",
    "duplicate_nomination": "nominee_id",
    "quota_exceeded": "nominee_id",
    "weights_invalid": "weights",
    "invalid_ratings": "ratings",
    "duplicate_name": "name",
}


class FormError(Exception):
    """A form refused: the errors by field, for re-rendering it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def field_errors(error: DomainError, fields: Mapping[str, str] | None = None) -> dict[str, str]:
    by_code = {**FIELD_BY_CODE, **(fields or {})}
    found: dict[str, str] = {}
    for item in error.errors or []:
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query")]
        field = ".".join(loc) if loc else FORM
        field = (fields or {}).get(field, field)
        found.setdefault(field, str(item.get("msg", error.message)))
    if not found:
        found[by_code.get(error.code, FORM)] = _sentence(error.message)
    return found


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] if message else message


def schema_errors(error: ValidationError) -> dict[str, str]:
    """A Pydantic schema's refusal of a form, by field."""
    found: dict[str, str] = {}
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or FORM
        found.setdefault(field, item["msg"].removeprefix("Value error, "))
    return found


@contextmanager
def refusals(session: Session, fields: Mapping[str, str] | None = None) -> Iterator[None]:
    """Run a service call in a savepoint: if it refuses, everything it did is
    undone and the refusal becomes a `FormError` naming the fields."""
    try:
        with session.begin_nested():
            yield
    except DomainError as error:
        raise FormError(field_errors(error, fields)) from None


def parse(schema: Callable[..., T], data: Mapping[str, Any]) -> T:
    """`schema(**data)`, its ValidationError as a `FormError`."""
    try:
        return schema(**data)
    except ValidationError as error:
        raise FormError(schema_errors(error)) from None


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
