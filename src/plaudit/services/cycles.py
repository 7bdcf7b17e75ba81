"""Cycles: lookup with visibility, and the window predicates every rule reads."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.errors import NotFound
from plaudit.models import Cycle, User
from plaudit.models.enums import CycleStatus, Role


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


def nominations_open(cycle: Cycle, now: datetime) -> bool:
    return cycle.status == CycleStatus.published and window_open(
        cycle.nomination_opens_at, cycle.nomination_closes_at, now
    )


def approvals_open(cycle: Cycle, now: datetime) -> bool:
    return cycle.status == CycleStatus.published and window_open(
        cycle.approval_opens_at, cycle.approval_closes_at, now
    )
