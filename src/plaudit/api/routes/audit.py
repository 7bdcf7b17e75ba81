"""HTTP routes: the audit log (thin: parse, call a service, return a schema)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from plaudit.api.deps import PageDep, SessionDep
from plaudit.api.precedence import AdminUser
from plaudit.api.routing import PlauditRoute
from plaudit.schemas.audit import AuditEntry
from plaudit.schemas.common import InputTimeOrDate, Page, page_of
from plaudit.services import audit

router = APIRouter(route_class=PlauditRoute)


@router.get("/audit-logs", tags=["audit"])
def list_audit_logs(
    session: SessionDep,
    actor: AdminUser,
    page: PageDep,
    entity_type: Annotated[str | None, Query(max_length=50, examples=["cycle"])] = None,
    entity_id: uuid.UUID | None = None,
    nomination_id: Annotated[
        uuid.UUID | None, Query(description="A nomination's whole story: its rows and its approvals' rows.")
    ] = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=50, examples=["cycle.publish"])] = None,
    since: Annotated[
        InputTimeOrDate | None, Query(description="Inclusive lower bound on occurred_at; a date is its start, UTC.")
    ] = None,
    until: Annotated[
        InputTimeOrDate | None, Query(description="Exclusive upper bound on occurred_at; a date is its start, UTC.")
    ] = None,
) -> Page[AuditEntry]:
    """The audit log, newest first (admins)."""
    found = audit.list_audit_logs(
        session, actor, entity_type=entity_type, entity_id=entity_id, nomination_id=nomination_id,
        actor_id=actor_id, action=action, since=since, until=until, limit=page.limit, cursor=page.cursor,
    )
    return page_of(found, AuditEntry)
