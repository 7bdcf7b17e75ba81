"""Cycles: lookup with visibility, the window predicates every rule reads, and
the cycle lifecycle (create, update, delete, publish, archive, list).

Rules (DOMAIN.md "Cycles"):

- Only admins (and the command line, actor None) create and change cycles;
  the role check comes first (`forbidden`), then the lookup (`not_found`),
  then the state rules (`cycle_state`), then the values.
- Drafts are visible to admins only: to anyone else a draft does not exist
  (`not_found`), and a non-admin listing `status=draft` gets an empty page.
- Window invariants (`invalid_windows`, 422) are checked on the values the
  cycle would have after the change, so moving one bound is judged together
  with the bounds that stay.
- What may change depends on the status: a draft anything; a published cycle
  only `description`, the four window bounds, `award_slots` and
  `nominator_roles` (naming any other field, even with its current value, is
  `cycle_state`); a finalized or archived cycle nothing.
- Writers lock the cycle row (`SELECT ... FOR UPDATE`), so an edit, a
  publish, a criteria change and a finalize on one cycle never interleave.

Decisions where the spec is silent:

- Names are trimmed; uniqueness is case-insensitive in PostgreSQL's `lower()`
  (the same function as the unique index, which is the guarantee under races).
- `nominator_roles` is stored de-duplicated in the canonical role order
  (employee, team_lead, manager, admin), so `["admin", "admin"]` is `["admin"]`.
- Publishing checks the window invariants only; it does not require the
  windows to lie in the future (an admin may publish a cycle whose
  nomination window is already open).
- Deleting a draft deletes its criteria with it (a database cascade); the one
  `cycle.delete` row records the cycle and, under `criteria`, the criteria it
  took with it (the criteria set is part of the cycle, as in `criteria.replace`).
- An empty update changes nothing and writes no audit row; on a finalized or
  archived cycle even an empty update is `cycle_state` (it is read-only).
- Close now (`close_nominations`, `close_approvals`) sets bounds to the
  clock's now and keeps every window invariant: the window being closed is
  open, so its `opens_at <= now`, and `approval_opens_at >= nomination_opens_at`
  is untouched (closing approvals also closes nominations, so
  `approval_closes_at >= nomination_closes_at` holds). The one instant that
  cannot close is the instant a window opens (it would close as it opens):
  `invalid_windows`.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from plaudit.errors import (
    CycleState,
    DuplicateName,
    InvalidWindows,
    NotFound,
    ValidationFailed,
    WeightsInvalid,
    WindowClosed,
)
from plaudit.models import Criterion, Cycle, User
from plaudit.models.enums import CycleStatus, Role, ScoreNormalization
from plaudit.paging import DEFAULT_LIMIT, Page, desc, keyset_page
from plaudit.services import audit, notifications
from plaudit.services.users import require_admin
from plaudit.services.validation import clean_name, clean_text, field_error, refuse_unknown_fields, unique_guard

# Fields an admin sets (create: all of them; update: those editable in the status).
SETTABLE_FIELDS = (
    "name",
    "description",
    "nomination_opens_at",
    "nomination_closes_at",
    "approval_opens_at",
    "approval_closes_at",
    "rating_min",
    "rating_max",
    "required_approvals",
    "max_nominations_per_nominator",
    "award_slots",
    "nominator_roles",
    "winner_cooldown_cycles",
    "score_normalization",
)
# What a cycle audit row records (everything but ids and bookkeeping times).
CYCLE_FIELDS = (*SETTABLE_FIELDS, "status", "published_at", "finalized_at", "archived_at")
WINDOW_FIELDS = ("nomination_opens_at", "nomination_closes_at", "approval_opens_at", "approval_closes_at")
EDITABLE_WHEN_PUBLISHED = frozenset({"description", *WINDOW_FIELDS, "award_slots", "nominator_roles"})
NULLABLE_FIELDS = frozenset({"max_nominations_per_nominator"})

NAME_MAX = 200
DESCRIPTION_MAX = 5000
INT32_MAX = 2**31 - 1
ONE = Decimal("1.0000")


# --- visibility and windows (used by every area) ----------------------------


def can_see(actor: User | None, cycle: Cycle) -> bool:
    """Drafts are visible to admins (and the command line) only."""
    return cycle.status != CycleStatus.draft or actor is None or actor.role == Role.admin


def get_cycle(
    session: Session,
    actor: User | None,
    cycle_id: uuid.UUID,
    *,
    lock: str | None = None,
) -> Cycle:
    """The cycle if `actor` may see it, else `not_found`.

    `lock` is None, "update" (writers: publish, finalize, edits) or
    "key_share" (nominations and approvals: they conflict with writers that
    lock "update", not with each other).
    """
    stmt = select(Cycle).where(Cycle.id == cycle_id)
    if lock == "update":
        stmt = stmt.with_for_update()
    elif lock == "key_share":
        stmt = stmt.with_for_update(read=True, key_share=True)
    cycle = session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
    if cycle is None or not can_see(actor, cycle):
        raise NotFound(f"cycle {cycle_id} not found")
    return cycle


def window_open(opens_at: datetime, closes_at: datetime, now: datetime) -> bool:
    """Windows are half-open: open when opens_at <= now < closes_at."""
    return opens_at <= now < closes_at


def window_open_clause(
    opens_at: ColumnElement[datetime], closes_at: ColumnElement[datetime], now: ColumnElement[datetime]
) -> ColumnElement[bool]:
    """`window_open` as SQL, for a statement that checks and writes in one round trip."""
    return and_(opens_at <= now, now < closes_at)


def nominations_open(cycle: Cycle, now: datetime) -> bool:
    return cycle.status == CycleStatus.published and window_open(
        cycle.nomination_opens_at, cycle.nomination_closes_at, now
    )


def approvals_open(cycle: Cycle, now: datetime) -> bool:
    return cycle.status == CycleStatus.published and window_open(
        cycle.approval_opens_at, cycle.approval_closes_at, now
    )


# --- value checks ------------------------------------------------------------


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, "must be an integer")
    if not low <= value <= high:
        raise field_error(field, f"must be between {low} and {high}")
    return value


def _utc(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise field_error(field, "must be a time with a UTC offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise field_error(field, "is out of range") from None


def _roles(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise field_error("nominator_roles", "must be a non-empty list of roles")
    try:
        given = {Role(r) for r in value}
    except ValueError:
        raise field_error("nominator_roles", f"each role must be one of {', '.join(Role)}") from None
    return [r.value for r in Role if r in given]


def _clean_field(field: str, value: Any) -> Any:
    """One settable field, normalized; `validation_error` when malformed."""
    if value is None:
        if field in NULLABLE_FIELDS:
            return None
        raise field_error(field, "may not be null")
    if field == "name":
        return clean_name(value, field, max_len=NAME_MAX)
    if field == "description":
        return clean_text(value, field, min_len=0, max_len=DESCRIPTION_MAX, strip=False)
    if field in WINDOW_FIELDS:
        return _utc(value, field)
    if field in ("rating_min", "rating_max"):
        return _int(value, field, 0, 100)
    if field == "required_approvals":
        return _int(value, field, 1, 10)
    if field == "max_nominations_per_nominator":
        return _int(value, field, 1, INT32_MAX)
    if field == "award_slots":
        return _int(value, field, 1, 1000)
    if field == "nominator_roles":
        return _roles(value)
    if field == "winner_cooldown_cycles":
        return _int(value, field, 0, 10)
    if field == "score_normalization":
        try:
            return ScoreNormalization(value).value
        except ValueError:
            raise field_error(field, f"must be one of {', '.join(ScoreNormalization)}") from None
    raise field_error(field, "is not a field that can be set")


def check_windows(values: Mapping[str, datetime]) -> None:
    """The four window invariants; `invalid_windows` naming every broken one."""
    n_open, n_close = values["nomination_opens_at"], values["nomination_closes_at"]
    a_open, a_close = values["approval_opens_at"], values["approval_closes_at"]
    broken = []
    if not n_open < n_close:
        broken.append("nomination_opens_at must be before nomination_closes_at")
    if not a_open < a_close:
        broken.append("approval_opens_at must be before approval_closes_at")
    if not a_open >= n_open:
        broken.append("approval_opens_at must not be before nomination_opens_at")
    if not a_close >= n_close:
        broken.append("approval_closes_at must not be before nomination_closes_at")
    if broken:
        raise InvalidWindows("invalid windows: " + "; ".join(broken))


def _check_rating_scale(values: Mapping[str, int]) -> None:
    if not values["rating_min"] < values["rating_max"]:
        raise ValidationFailed(
            "rating_min must be less than rating_max",
            errors=[{"loc": ["body", "rating_max"], "msg": "must be greater than rating_min"}],
        )


def _check_name_free(session: Session, name: str, *, except_id: uuid.UUID | None = None) -> None:
    stmt = select(Cycle.id).where(func.lower(Cycle.name) == func.lower(name))
    if except_id is not None:
        stmt = stmt.where(Cycle.id != except_id)
    if session.scalar(stmt.limit(1)) is not None:
        raise _taken(name)


def _taken(name: str) -> DuplicateName:
    return DuplicateName(f"a cycle named {name!r} already exists")


def _name_guard(session: Session, name: str):
    """Changes made in this block are flushed in a savepoint; a race on the
    unique name index becomes `duplicate_name` for `name`."""
    return unique_guard(session, "uq_cycles_lower_name", _taken(name))


# --- lifecycle ---------------------------------------------------------------


def create_cycle(
    session: Session,
    actor: User | None,
    *,
    name: str,
    nomination_opens_at: datetime,
    nomination_closes_at: datetime,
    approval_opens_at: datetime,
    approval_closes_at: datetime,
    description: str = "",
    rating_min: int = 1,
    rating_max: int = 5,
    required_approvals: int = 1,
    max_nominations_per_nominator: int | None = None,
    award_slots: int = 3,
    nominator_roles: list[str] | None = None,
    winner_cooldown_cycles: int = 0,
    score_normalization: str = ScoreNormalization.none,
) -> Cycle:
    """Create a draft cycle (admin). Defaults per DOMAIN.md; `nominator_roles`
    defaults to all four roles.

    Errors: `forbidden`, `validation_error` (a malformed field, rating scale),
    `invalid_windows`, `duplicate_name`. Writes `cycle.create`.
    """
    require_admin(actor)
    given = dict(
        name=name,
        description=description,
        nomination_opens_at=nomination_opens_at,
        nomination_closes_at=nomination_closes_at,
        approval_opens_at=approval_opens_at,
        approval_closes_at=approval_closes_at,
        rating_min=rating_min,
        rating_max=rating_max,
        required_approvals=required_approvals,
        max_nominations_per_nominator=max_nominations_per_nominator,
        award_slots=award_slots,
        nominator_roles=[r.value for r in Role] if nominator_roles is None else nominator_roles,
        winner_cooldown_cycles=winner_cooldown_cycles,
        score_normalization=score_normalization,
    )
    values = {field: _clean_field(field, value) for field, value in given.items()}
    _check_rating_scale(values)
    check_windows(values)
    _check_name_free(session, values["name"])
    cycle = Cycle(**values, status=CycleStatus.draft.value, created_by=audit.actor_id_of(actor))
    audit.add_and_record(
        session, actor, cycle, action="cycle.create", entity_type="cycle", fields=CYCLE_FIELDS,
        guard=_name_guard(session, values["name"]),
    )
    return cycle


def update_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID, changes: Mapping[str, Any]) -> Cycle:
    """Change the given fields of a cycle (admin), as its status allows.

    `changes` holds only the fields to change (a PATCH body's set fields).
    Draft: any settable field. Published: only `description`, the four window
    bounds, `award_slots`, `nominator_roles`; any other field named is
    `cycle_state`. Finalized/archived: `cycle_state`. The windows and the
    rating scale are checked on the merged values (`invalid_windows`,
    `validation_error`); a new name must be free (`duplicate_name`).

    Locks the cycle row. Writes `cycle.update` with the changed fields only,
    and nothing when nothing changed.
    """
    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    refuse_unknown_fields(changes, SETTABLE_FIELDS, loc_prefix=["body"])
    if cycle.status in (CycleStatus.finalized, CycleStatus.archived):
        raise CycleState(f"a {cycle.status} cycle cannot be changed")
    if cycle.status == CycleStatus.published:
        locked = sorted(set(changes) - EDITABLE_WHEN_PUBLISHED)
        if locked:
            raise CycleState(
                f"a published cycle allows changing only {', '.join(sorted(EDITABLE_WHEN_PUBLISHED))};"
                f" not {', '.join(locked)}"
            )
    cleaned = {field: _clean_field(field, value) for field, value in changes.items()}
    merged = {field: getattr(cycle, field) for field in SETTABLE_FIELDS} | cleaned
    _check_rating_scale(merged)
    check_windows(merged)
    if "name" in cleaned and cleaned["name"] != cycle.name:
        _check_name_free(session, cleaned["name"], except_id=cycle.id)

    diff = {field: value for field, value in cleaned.items() if getattr(cycle, field) != value}
    if diff:
        audit.change_and_record(
            session, actor, cycle, diff, action="cycle.update", entity_type="cycle", fields=CYCLE_FIELDS,
            guard=_name_guard(session, diff.get("name", cycle.name)),
        )
    return cycle


def delete_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID) -> None:
    """Delete a draft cycle and its criteria (admin); other statuses are
    `cycle_state`. Writes `cycle.delete` with the cycle (and its criteria)
    as `before`."""
    from plaudit.services.criteria import criteria_snapshot, ordered_criteria

    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    if cycle.status != CycleStatus.draft:
        raise CycleState(f"only draft cycles can be deleted; this one is {cycle.status}")
    before = audit.snapshot(cycle, CYCLE_FIELDS)
    before["criteria"] = criteria_snapshot(ordered_criteria(session, cycle.id))
    audit.delete_and_record(session, actor, cycle, before, action="cycle.delete", entity_type="cycle")


def weights_sum(session: Session, cycle_id: uuid.UUID) -> tuple[int, Decimal]:
    """(number of criteria, exact sum of their weights) for a cycle."""
    count, total = session.execute(
        select(func.count(Criterion.id), func.coalesce(func.sum(Criterion.weight), 0)).where(
            Criterion.cycle_id == cycle_id
        )
    ).one()
    return count, Decimal(total)


def format_weight(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.0001")))


def publish_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID, *, now: datetime) -> Cycle:
    """Publish a draft (admin): it needs at least one criterion, weights summing
    to exactly 1.0000 (`weights_invalid`, naming the actual sum) and valid
    windows (`invalid_windows`). Other statuses are `cycle_state`.

    Sets `published_at` to `now`. Locks the cycle row (criteria changes lock it
    too, so the sum cannot move underneath). Writes `cycle.publish`, and tells
    everyone who may nominate (`notifications.cycle_published`).
    """
    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    if cycle.status != CycleStatus.draft:
        raise CycleState(f"only draft cycles can be published; this one is {cycle.status}")
    count, total = weights_sum(session, cycle.id)
    if count == 0:
        raise WeightsInvalid(
            "a cycle needs at least one criterion to be published (criteria weights sum to 0.0000, not 1)"
        )
    if total != ONE:
        raise WeightsInvalid(f"criteria weights sum to {format_weight(total)}, not 1")
    check_windows({f: getattr(cycle, f) for f in WINDOW_FIELDS})
    _move(session, actor, cycle, CycleStatus.published, "published_at", now, action="cycle.publish")
    notifications.cycle_published(session, cycle)
    return cycle


def archive_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID, *, now: datetime) -> Cycle:
    """Archive a finalized cycle (admin), stamping `archived_at` with `now`.

    Idempotent: an archived cycle is returned unchanged, with no audit row.
    Draft and published cycles are `cycle_state`. Writes `cycle.archive`.
    """
    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    if cycle.status == CycleStatus.archived:
        return cycle
    if cycle.status != CycleStatus.finalized:
        raise CycleState(f"only finalized cycles can be archived; this one is {cycle.status}")
    _move(session, actor, cycle, CycleStatus.archived, "archived_at", now, action="cycle.archive")
    return cycle


def close_nominations(session: Session, actor: User | None, cycle_id: uuid.UUID, *, now: datetime) -> Cycle:
    """Close the nomination window now (admin, DOMAIN.md "Close now"):
    `nomination_closes_at` becomes `now`.

    Checks in API.md's order: `not_found`, `forbidden`, `cycle_state` (not
    published), `window_closed` (the nomination window is not open now).
    Locks the cycle row. Writes one `cycle.update` row with the old and new bound.
    """
    cycle = _closable(session, actor, cycle_id)
    if not nominations_open(cycle, now):
        raise WindowClosed("the nomination window is not open")
    _close(session, actor, cycle, {"nomination_closes_at": now})
    return cycle


def close_approvals(session: Session, actor: User | None, cycle_id: uuid.UUID, *, now: datetime) -> Cycle:
    """Close the approval window now (admin, DOMAIN.md "Close now"):
    `approval_closes_at` becomes `now`, and so does `nomination_closes_at`
    when it is later (the invariant `approval_closes_at >= nomination_closes_at`).
    Finalize is then allowed at once: `now >= approval_closes_at` holds at
    this very instant.

    Checks: `not_found`, `forbidden`, `cycle_state`, `window_closed` (the
    approval window is not open now). Locks the cycle row. Writes one
    `cycle.update` row with the old and new bounds.
    """
    cycle = _closable(session, actor, cycle_id)
    if not approvals_open(cycle, now):
        raise WindowClosed("the approval window is not open")
    changes = {"approval_closes_at": now}
    if cycle.nomination_closes_at > now:
        changes["nomination_closes_at"] = now
    _close(session, actor, cycle, changes)
    return cycle


def _closable(session: Session, actor: User | None, cycle_id: uuid.UUID) -> Cycle:
    """The published cycle to close, locked: `not_found`, `forbidden`, `cycle_state`."""
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    require_admin(actor)
    if cycle.status != CycleStatus.published:
        raise CycleState(f"only published cycles can be closed; this one is {cycle.status}")
    return cycle


def _close(session: Session, actor: User | None, cycle: Cycle, changes: dict[str, datetime]) -> None:
    """Set the closing bounds in `changes` and write `cycle.update` (old and new bounds).

    The window was open (opens_at <= now < closes_at), so every invariant
    still holds except at the instant a window opens, where it would close
    as it opens (opens_at = closes_at): that is `invalid_windows`, as a PATCH
    with the same bounds would be.
    """
    changes = {field: _utc(value, field) for field, value in changes.items()}
    check_windows({field: getattr(cycle, field) for field in WINDOW_FIELDS} | changes)
    audit.change_and_record(
        session, actor, cycle, changes, action="cycle.update", entity_type="cycle", fields=CYCLE_FIELDS
    )


def _move(
    session: Session, actor: User | None, cycle: Cycle, status: CycleStatus, stamp: str, now: datetime, *, action: str
) -> None:
    """Set the cycle's `status` and its `stamp` time to `now`; writes `action`."""
    changes = {"status": status.value, stamp: _utc(now, "now")}
    audit.change_and_record(session, actor, cycle, changes, action=action, entity_type="cycle", fields=CYCLE_FIELDS)


def list_cycles(
    session: Session,
    actor: User | None,
    *,
    status: CycleStatus | str | None = None,
    include_archived: bool = False,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Cycle]:
    """Cycles newest first (created_at DESC, id DESC), keyset-paged.

    `status` filters; archived cycles are left out unless `status=archived`
    or `include_archived`; drafts are listed for admins only (a non-admin
    asking for `status=draft` gets an empty page, not an error).
    """
    stmt: Select[Any] = select(Cycle)
    if status is not None:
        try:
            status = CycleStatus(status)
        except ValueError:
            raise ValidationFailed(
                f"status must be one of {', '.join(CycleStatus)}",
                errors=[{"loc": ["query", "status"], "msg": "unknown status"}],
            ) from None
        stmt = stmt.where(Cycle.status == status.value)
    elif not include_archived:
        stmt = stmt.where(Cycle.status != CycleStatus.archived.value)
    if actor is not None and actor.role != Role.admin:
        stmt = stmt.where(Cycle.status != CycleStatus.draft.value)
    return keyset_page(session, stmt, [desc(Cycle.created_at), desc(Cycle.id)], limit=limit, cursor=cursor)
