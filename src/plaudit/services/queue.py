"""The approver's queue as SQL (DOMAIN.md, "The approver's queue"): one
definition for one caller's queue (`nominations.approval_queue`) and for
every approver's at once (`notifications`' approval reminders)."""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, exists, func, literal_column, or_, select

from plaudit.models import Approval, Cycle, Nomination
from plaudit.models.enums import CycleStatus, NominationStatus, Role


def sql_text(value: str) -> ColumnElement[str]:
    """A constant of ours (a status, a role, a format) written into the SQL
    rather than bound: a prepared statement's generic plan then still knows
    how many rows a status selects, and a statement compiled once for the
    driver (`plaudit.db.driver`) holds it."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def decidable_by(
    approver: Any, now: Any, team_manager_id: ColumnElement[uuid.UUID | None]
) -> list[ColumnElement[bool]]:
    """SQL: `approver` may decide the row's nomination at `now`, decided or
    not, whatever its status: a published cycle whose approval window is
    open, `approver` one of its approvers (`nominations.approver_clause`),
    without a conflict of interest. `approver` has `id`, `role` and
    `is_active` as columns (a users table, to find everyone's queue:
    reminders) or bind parameters (the caller's queue). Needs `Cycle` joined
    and `team_manager_id`, the nominee's team's manager."""
    return [
        Cycle.status == sql_text(CycleStatus.published.value),
        Cycle.approval_opens_at <= now,
        now < Cycle.approval_closes_at,
        approver.is_active,
        or_(
            approver.role == sql_text(Role.admin.value),
            and_(approver.role == sql_text(Role.manager.value), approver.id == team_manager_id),
        ),
        Nomination.nominator_id != approver.id,
        Nomination.nominee_id != approver.id,
    ]


def decided_by(approver: Any) -> ColumnElement[bool]:
    """SQL: `approver` has recorded a decision on the row's nomination."""
    return exists().where(Approval.nomination_id == Nomination.id, Approval.approver_id == approver.id)


def in_queue(
    approver: Any, now: Any, team_manager_id: ColumnElement[uuid.UUID | None],
    decided: ColumnElement[bool] | None = None,
) -> list[ColumnElement[bool]]:
    """SQL: the row's nomination is in `approver`'s queue at `now` (DOMAIN.md,
    "The approver's queue"): pending, `decidable_by` them, and not decided
    by them yet. `decided` says the last for a statement that counts the
    approver's decisions already (`decisions_of`); else `decided_by`."""
    return [
        Nomination.status == sql_text(NominationStatus.pending.value),
        *decidable_by(approver, now, team_manager_id),
        ~(decided_by(approver) if decided is None else decided),
    ]


def decisions_of(approver: Any) -> Any:
    """A lateral subquery of the row's nomination: `n`, its decisions so far,
    and `mine`, how many of them are `approver`'s (0 or 1): one index scan
    gives both, where `decided_by` would probe the index a second time per
    row (and, as an anti-join, cost the queue's statement planning time:
    bench/README.md, E). Decided by them: `mine > 0`."""
    return (
        select(func.count().label("n"), func.count().filter(Approval.approver_id == approver.id).label("mine"))
        .where(Approval.nomination_id == Nomination.id)
        .lateral("decisions")
    )


__all__ = ["decidable_by", "decided_by", "decisions_of", "in_queue", "sql_text"]
