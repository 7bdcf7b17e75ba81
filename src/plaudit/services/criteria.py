"""Criteria: the weighted yardsticks of a cycle.

Rules (DOMAIN.md "Criteria"):

- `name` 1–100 characters (trimmed), unique within the cycle
  case-insensitively (`duplicate_name`); `description` ≤ 2000; `weight` a
  decimal with `0 < weight ≤ 1` and at most 4 decimal places; `position` an
  integer. Malformed values are `validation_error` naming the field.
- Criteria change only while their cycle is a draft (`cycle_state`); only
  admins change them (`forbidden`, checked first). Every writer locks the
  cycle row `FOR UPDATE`, the same lock publish takes, so publish always sees
  a settled set.
- List order: `position`, then name (case-insensitively), then id.

Decisions where the spec is silent:

- A single add, update or delete may leave a draft's weights summing to
  anything (above 1 included): a draft is work in progress. The sum is
  enforced where the spec enforces it: at publish and by `replace_criteria`.
- `position`, when omitted, puts a new criterion last (one more than the
  cycle's highest position, or 0); in a replace, an item without a position
  gets its index in the list, so the set reads back in the order sent.
- `replace_criteria` matches the new items to the existing criteria by name
  (case-insensitively): a criterion kept by name keeps its id and is updated
  in place, the others are deleted or created. Replacing a set with an
  identical one therefore changes nothing and writes no audit row.
"""

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.errors import CycleState, DuplicateName, NotFound, WeightsInvalid
from plaudit.models import Criterion, Cycle, User
from plaudit.models.enums import CycleStatus
from plaudit.services import audit
from plaudit.services.cycles import ONE, can_see, format_weight, get_cycle
from plaudit.services.users import require_admin
from plaudit.services.validation import clean_name, clean_text, field_error, refuse_unknown_fields, unique_guard

CRITERION_FIELDS = ("cycle_id", "name", "description", "weight", "position")
SETTABLE_FIELDS = ("name", "description", "weight", "position")
NAME_MAX = 100
DESCRIPTION_MAX = 2000
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
QUANTUM = Decimal("0.0001")


# --- values ------------------------------------------------------------------


def clean_weight(value: Any, *, loc: list[Any] | None = None) -> Decimal:
    """A weight as an exact Decimal with 4 places: `0 < w ≤ 1`, at most 4
    decimal places. Accepts Decimal, int, str and float (a float is read by
    its shortest decimal representation, so 0.1 is 0.1)."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str, float)):
        raise field_error("weight", "must be a decimal number", loc=loc)
    try:
        weight = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise field_error("weight", "must be a decimal number", loc=loc) from None
    if not weight.is_finite():
        raise field_error("weight", "must be a finite number", loc=loc)
    if not Decimal(0) < weight <= Decimal(1):
        raise field_error("weight", "must be greater than 0 and at most 1", loc=loc)
    quantized = weight.quantize(QUANTUM)
    if quantized != weight:
        raise field_error("weight", "must have at most 4 decimal places", loc=loc)
    return quantized


def _clean_position(value: Any, *, loc: list[Any] | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error("position", "must be an integer", loc=loc)
    if not INT32_MIN <= value <= INT32_MAX:
        raise field_error("position", f"must be between {INT32_MIN} and {INT32_MAX}", loc=loc)
    return value


def _clean_field(field: str, value: Any, *, loc_prefix: list[Any]) -> Any:
    loc = [*loc_prefix, field]
    if value is None:
        raise field_error(field, "may not be null", loc=loc)
    if field == "name":
        return clean_name(value, field, max_len=NAME_MAX, loc=loc)
    if field == "description":
        return clean_text(value, field, min_len=0, max_len=DESCRIPTION_MAX, strip=False, loc=loc)
    if field == "weight":
        return clean_weight(value, loc=loc)
    if field == "position":
        return _clean_position(value, loc=loc)
    raise field_error(field, "is not a field that can be set", loc=loc)


def _clean(data: Mapping[str, Any], *, loc_prefix: list[Any]) -> dict[str, Any]:
    refuse_unknown_fields(data, SETTABLE_FIELDS, loc_prefix=loc_prefix)
    return {field: _clean_field(field, value, loc_prefix=loc_prefix) for field, value in data.items()}


# --- reading -----------------------------------------------------------------


# List order (DOMAIN.md "Criteria"): position, name (case-insensitive), id.
CRITERIA_ORDER = (Criterion.position, func.lower(Criterion.name), Criterion.id)


def ordered_criteria(session: Session, cycle_id: uuid.UUID) -> list[Criterion]:
    """A cycle's criteria in list order (`CRITERIA_ORDER`)."""
    return list(
        session.scalars(
            select(Criterion)
            .where(Criterion.cycle_id == cycle_id)
            .order_by(*CRITERIA_ORDER)
            .execution_options(populate_existing=True)
        )
    )


def list_criteria(session: Session, actor: User | None, cycle_id: uuid.UUID) -> list[Criterion]:
    """The criteria of a cycle the actor can see (`not_found` otherwise); not paged."""
    get_cycle(session, actor, cycle_id)
    return ordered_criteria(session, cycle_id)


def get_criterion(session: Session, actor: User | None, criterion_id: uuid.UUID) -> Criterion:
    """The criterion if `actor` may see its cycle, else `not_found` (which
    names the criterion only, not its cycle). Reads only."""
    criterion = session.get(Criterion, criterion_id)
    if criterion is None or not can_see(actor, session.get_one(Cycle, criterion.cycle_id)):
        raise NotFound(f"criterion {criterion_id} not found")
    return criterion


def criteria_snapshot(criteria: Sequence[Criterion]) -> list[dict[str, Any]]:
    """A JSON-ready list of criteria for audit payloads."""
    return [
        {"id": str(c.id), **audit.snapshot(c, ("name", "description", "weight", "position"))} for c in criteria
    ]


# --- writing -----------------------------------------------------------------


def _draft_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID) -> Cycle:
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    if cycle.status != CycleStatus.draft:
        raise CycleState(f"criteria can change only while the cycle is a draft; this one is {cycle.status}")
    return cycle


def _locked_criterion(session: Session, actor: User | None, criterion_id: uuid.UUID) -> Criterion:
    """The criterion, its draft cycle locked; `not_found` / `cycle_state`."""
    cycle_id = session.scalar(select(Criterion.cycle_id).where(Criterion.id == criterion_id))
    if cycle_id is None:
        raise NotFound(f"criterion {criterion_id} not found")
    _draft_cycle(session, actor, cycle_id)
    # Read again under the cycle's lock: a concurrent replace may have removed it.
    criterion = session.execute(
        select(Criterion).where(Criterion.id == criterion_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if criterion is None:
        raise NotFound(f"criterion {criterion_id} not found")
    return criterion


def _check_name_free(session: Session, cycle_id: uuid.UUID, name: str, *, except_id: uuid.UUID | None = None) -> None:
    stmt = select(Criterion.id).where(Criterion.cycle_id == cycle_id, func.lower(Criterion.name) == func.lower(name))
    if except_id is not None:
        stmt = stmt.where(Criterion.id != except_id)
    if session.scalar(stmt.limit(1)) is not None:
        raise _taken(name)


def _guard(session: Session, error: DuplicateName):
    """Changes made in this block are flushed in a savepoint; a unique-name
    race becomes `error` (`duplicate_name`)."""
    return unique_guard(session, "uq_criteria_cycle_id_lower_name", error)


def _taken(name: str) -> DuplicateName:
    return DuplicateName(f"this cycle already has a criterion named {name!r}")



def add_criterion(
    session: Session,
    actor: User | None,
    cycle_id: uuid.UUID,
    *,
    name: str,
    weight: Decimal | str | int | float,
    description: str = "",
    position: int | None = None,
) -> Criterion:
    """Add a criterion to a draft cycle (admin). Without `position` it goes last.
    The cycle's weight sum is not checked here (see the module docstring).

    Errors: `forbidden`, `not_found`, `cycle_state`, `validation_error`,
    `duplicate_name`. Writes `criterion.create`.
    """
    require_admin(actor)
    cycle = _draft_cycle(session, actor, cycle_id)
    given: dict[str, Any] = {"name": name, "description": description, "weight": weight}
    if position is not None:
        given["position"] = position
    values = _clean(given, loc_prefix=["body"])
    if "position" not in values:
        highest = session.scalar(select(func.max(Criterion.position)).where(Criterion.cycle_id == cycle.id))
        values["position"] = 0 if highest is None else min(highest + 1, INT32_MAX)
    _check_name_free(session, cycle.id, values["name"])
    criterion = Criterion(cycle_id=cycle.id, **values)
    audit.add_and_record(
        session, actor, criterion, action="criterion.create", entity_type="criterion", fields=CRITERION_FIELDS,
        guard=_guard(session, _taken(values["name"])),
    )
    return criterion


def update_criterion(
    session: Session, actor: User | None, criterion_id: uuid.UUID, changes: Mapping[str, Any]
) -> Criterion:
    """Change the given fields (`name`, `description`, `weight`, `position`) of
    a criterion of a draft cycle (admin). The weight sum is not checked here.

    Errors: `forbidden`, `not_found`, `cycle_state`, `validation_error`,
    `duplicate_name`. Writes `criterion.update` with the changed fields, or
    nothing when nothing changed.
    """
    require_admin(actor)
    criterion = _locked_criterion(session, actor, criterion_id)
    values = _clean(changes, loc_prefix=["body"])
    if "name" in values and values["name"] != criterion.name:
        _check_name_free(session, criterion.cycle_id, values["name"], except_id=criterion.id)
    diff = {field: value for field, value in values.items() if getattr(criterion, field) != value}
    if diff:
        audit.change_and_record(
            session, actor, criterion, diff, action="criterion.update", entity_type="criterion",
            fields=CRITERION_FIELDS, guard=_guard(session, _taken(diff.get("name", criterion.name))),
        )
    return criterion


def delete_criterion(session: Session, actor: User | None, criterion_id: uuid.UUID) -> None:
    """Remove a criterion from a draft cycle (admin).

    Errors: `forbidden`, `not_found`, `cycle_state`. Writes `criterion.delete`.
    """
    require_admin(actor)
    criterion = _locked_criterion(session, actor, criterion_id)
    audit.delete_and_record(
        session, actor, criterion, audit.snapshot(criterion, CRITERION_FIELDS),
        action="criterion.delete", entity_type="criterion",
    )


def replace_criteria(
    session: Session, actor: User | None, cycle_id: uuid.UUID, items: Sequence[Mapping[str, Any]]
) -> list[Criterion]:
    """Replace a draft cycle's whole criteria set at once (admin), atomically.

    Each item has `name`, `weight` and optionally `description`, `position`.
    Checks, in order: `forbidden`, `not_found`, `cycle_state`, each item's
    values (`validation_error`, loc `["body", "items", i, field]`), names
    unique within the new set (`duplicate_name`), a non-empty set whose
    weights sum to exactly 1 (`weights_invalid`, naming the sum).

    Criteria are matched to the existing ones by name (see the module
    docstring). Writes ONE `criteria.replace` row (entity: the cycle) with
    payload `{"before": [...], "after": [...]}`, or none if nothing changed.
    Returns the new set in list order.
    """
    require_admin(actor)
    cycle = _draft_cycle(session, actor, cycle_id)
    wanted: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        values = _clean(item, loc_prefix=["body", "items", i])
        for required in ("name", "weight"):
            if required not in values:
                raise field_error(required, "is required", loc=["body", "items", i, required])
        values.setdefault("description", "")
        values.setdefault("position", i)
        wanted.append(values)
    seen: set[str] = set()
    for values in wanted:
        key = values["name"].lower()
        if key in seen:
            raise DuplicateName(
                f"the new criteria list has {values['name']!r} more than once (names are case-insensitive)"
            )
        seen.add(key)
    if not wanted:
        raise WeightsInvalid("the new set of criteria is empty (criteria weights sum to 0.0000, not 1)")
    total = sum((v["weight"] for v in wanted), Decimal(0))
    if total != ONE:
        raise WeightsInvalid(f"criteria weights sum to {format_weight(total)}, not 1")

    existing = ordered_criteria(session, cycle.id)
    before = criteria_snapshot(existing)
    by_name = {c.name.lower(): c for c in existing}
    with _guard(session, DuplicateName("two of the new criteria names are the same (case-insensitively)")):
        for criterion in existing:
            if criterion.name.lower() not in seen:
                session.delete(criterion)
        session.flush()  # deletions first, so a freed name can be taken again
        for values in wanted:
            criterion = by_name.get(values["name"].lower())
            if criterion is None:
                session.add(Criterion(cycle_id=cycle.id, **values))
                continue
            for field, value in values.items():
                if getattr(criterion, field) != value:
                    setattr(criterion, field, value)
    after_set = ordered_criteria(session, cycle.id)
    after = criteria_snapshot(after_set)
    if after != before:
        audit.record(
            session,
            actor_id=audit.actor_id_of(actor),
            action="criteria.replace",
            entity_type="cycle",
            entity_id=cycle.id,
            extra={"before": before, "after": after},
        )
    return after_set
