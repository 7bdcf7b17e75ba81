"""HTTP routes: cycles and their criteria (thin: parse, call a service, return a schema).

Finalize, preview, results and nominations live in their own route modules.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from plaudit.api.deps import ClockDep, CurrentUser, PageDep, SessionDep
from plaudit.api.precedence import AdminUser
from plaudit.api.routing import PlauditRoute
from plaudit.models.enums import CycleStatus
from plaudit.schemas.common import Items, Page, QueryBool
from plaudit.schemas.cycles import (
    CriteriaReplace,
    CriterionCreate,
    CriterionOut,
    CriterionUpdate,
    CycleCreate,
    CycleOut,
    CycleUpdate,
)
from plaudit.services import criteria as criteria_service
from plaudit.services import cycles as cycle_service

router = APIRouter(tags=["cycles"], route_class=PlauditRoute)


@router.get("/cycles", response_model=Page[CycleOut])
def list_cycles(
    session: SessionDep,
    clock: ClockDep,
    user: CurrentUser,
    page: PageDep,
    status_: Annotated[CycleStatus | None, Query(alias="status")] = None,
    include_archived: QueryBool = False,
) -> Page[CycleOut]:
    """Cycles newest first. Archived ones only with `status=archived` or
    `include_archived=true`; drafts only for admins."""
    result = cycle_service.list_cycles(
        session, user, status=status_, include_archived=include_archived, limit=page.limit, cursor=page.cursor
    )
    now = clock.now()
    return Page[CycleOut](items=[CycleOut.build(c, now) for c in result.items], next_cursor=result.next_cursor)


@router.post("/cycles", status_code=status.HTTP_201_CREATED, response_model=CycleOut)
def create_cycle(body: CycleCreate, session: SessionDep, clock: ClockDep, user: AdminUser) -> CycleOut:
    """Create a draft cycle (admin)."""
    cycle = cycle_service.create_cycle(session, user, **body.model_dump())
    return CycleOut.build(cycle, clock.now())


@router.get("/cycles/{cycle_id}", response_model=CycleOut)
def get_cycle(cycle_id: uuid.UUID, session: SessionDep, clock: ClockDep, user: CurrentUser) -> CycleOut:
    """One cycle (drafts: admins only)."""
    return CycleOut.build(cycle_service.get_cycle(session, user, cycle_id), clock.now())


@router.patch("/cycles/{cycle_id}", response_model=CycleOut)
def update_cycle(
    cycle_id: uuid.UUID, body: CycleUpdate, session: SessionDep, clock: ClockDep, user: AdminUser
) -> CycleOut:
    """Change the fields the cycle's status allows (admin)."""
    cycle = cycle_service.update_cycle(session, user, cycle_id, body.changes())
    return CycleOut.build(cycle, clock.now())


@router.delete("/cycles/{cycle_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_cycle(cycle_id: uuid.UUID, session: SessionDep, user: AdminUser) -> Response:
    """Delete a draft cycle and its criteria (admin)."""
    cycle_service.delete_cycle(session, user, cycle_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/cycles/{cycle_id}/publish", response_model=CycleOut)
def publish_cycle(cycle_id: uuid.UUID, session: SessionDep, clock: ClockDep, user: AdminUser) -> CycleOut:
    """Publish a draft whose criteria weights sum to exactly 1 (admin)."""
    now = clock.now()
    return CycleOut.build(cycle_service.publish_cycle(session, user, cycle_id, now=now), now)


@router.post("/cycles/{cycle_id}/archive", response_model=CycleOut)
def archive_cycle(cycle_id: uuid.UUID, session: SessionDep, clock: ClockDep, user: AdminUser) -> CycleOut:
    """Archive a finalized cycle (admin); archiving again changes nothing."""
    now = clock.now()
    return CycleOut.build(cycle_service.archive_cycle(session, user, cycle_id, now=now), now)


@router.post("/cycles/{cycle_id}/close-nominations", response_model=CycleOut)
def close_nominations(cycle_id: uuid.UUID, session: SessionDep, clock: ClockDep, user: AdminUser) -> CycleOut:
    """Close the nomination window now (admin; published cycle, window open)."""
    now = clock.now()
    return CycleOut.build(cycle_service.close_nominations(session, user, cycle_id, now=now), now)


@router.post("/cycles/{cycle_id}/close-approvals", response_model=CycleOut)
def close_approvals(cycle_id: uuid.UUID, session: SessionDep, clock: ClockDep, user: AdminUser) -> CycleOut:
    """Close the approval window, and the nomination window with it, now (admin); finalize may follow at once."""
    now = clock.now()
    return CycleOut.build(cycle_service.close_approvals(session, user, cycle_id, now=now), now)


@router.get("/cycles/{cycle_id}/criteria", response_model=Items[CriterionOut])
def list_criteria(cycle_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Items[CriterionOut]:
    """The cycle's criteria in display order (position, then name); not paged."""
    items = criteria_service.list_criteria(session, user, cycle_id)
    return Items[CriterionOut](items=[CriterionOut.build(c) for c in items])


@router.post("/cycles/{cycle_id}/criteria", status_code=status.HTTP_201_CREATED, response_model=CriterionOut)
def add_criterion(cycle_id: uuid.UUID, body: CriterionCreate, session: SessionDep, user: AdminUser) -> CriterionOut:
    """Add a criterion to a draft cycle (admin)."""
    criterion = criteria_service.add_criterion(session, user, cycle_id, **body.model_dump())
    return CriterionOut.build(criterion)


@router.put("/cycles/{cycle_id}/criteria", response_model=Items[CriterionOut])
def replace_criteria(
    cycle_id: uuid.UUID, body: CriteriaReplace, session: SessionDep, user: AdminUser
) -> Items[CriterionOut]:
    """Replace a draft cycle's whole criteria set (admin); weights must sum to 1."""
    items = criteria_service.replace_criteria(session, user, cycle_id, body.item_dicts())
    return Items[CriterionOut](items=[CriterionOut.build(c) for c in items])


@router.patch("/criteria/{criterion_id}", response_model=CriterionOut)
def update_criterion(
    criterion_id: uuid.UUID, body: CriterionUpdate, session: SessionDep, user: AdminUser
) -> CriterionOut:
    """Change a criterion of a draft cycle (admin)."""
    return CriterionOut.build(criteria_service.update_criterion(session, user, criterion_id, body.changes()))


@router.delete("/criteria/{criterion_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_criterion(criterion_id: uuid.UUID, session: SessionDep, user: AdminUser) -> Response:
    """Remove a criterion from a draft cycle (admin)."""
    criteria_service.delete_criterion(session, user, criterion_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
