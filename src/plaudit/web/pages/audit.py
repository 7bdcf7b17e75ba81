"""Audit log (admin): filters by entity, actor, action and dates; each row
with the actor's name and a readable summary of the change; above them, the
outcome of the last `plaudit audit verify` and its time (kept, not rerun: a
walk of the whole chain is no work for a page)."""

import uuid
from datetime import datetime, time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from plaudit.api.deps import SessionDep
from plaudit.services import audit, audit_chain, users
from plaudit.web import auth
from plaudit.web.forms import FormError
from plaudit.web.pages.common import page_router
from plaudit.web.render import render, viewer_zone

router = page_router()

PAGE = 50
ENTITY_TYPES = ("cycle", "criterion", "nomination", "approval", "user", "team", "token", "people_import")
SHOWN_VALUE = 80  # characters of one value in a summary


def _value(value: Any) -> str:
    shown = value if isinstance(value, str) else ("—" if value is None else str(value))
    return shown if len(shown) <= SHOWN_VALUE else shown[: SHOWN_VALUE - 1] + "…"


def summary(payload: dict[str, Any] | None) -> list[str]:
    """One line per change: "field: old → new", "field: value" for a creation."""
    payload = payload or {}
    before, after = payload.get("before"), payload.get("after")
    lines = []
    if isinstance(before, dict) and isinstance(after, dict):
        lines = [f"{k.replace('_', ' ')}: {_value(before.get(k))} → {_value(after.get(k))}" for k in after]
    elif isinstance(after, dict):
        lines = [f"{k.replace('_', ' ')}: {_value(v)}" for k, v in after.items() if v not in (None, "", [])]
    elif isinstance(before, dict):
        lines = [f"removed {k.replace('_', ' ')}: {_value(v)}" for k, v in before.items()]
    extra = {k: v for k, v in payload.items() if k not in ("before", "after")}
    lines += [f"{k.replace('_', ' ')}: {_value(v)}" for k, v in extra.items()]
    return lines


def _day(value: str, request: Request, name: str) -> datetime | None:
    """A date filter (YYYY-MM-DD) as the start of that day in the viewer's zone."""
    if not value:
        return None
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), viewer_zone(request))
    except ValueError:
        raise FormError({name: "must be a date"}) from None


@router.get("/audit")
def audit_page(request: Request, user: auth.PageUser, session: SessionDep, entity_type: str = "",
               entity_id: str = "", actor: str = "", action: str = "", since: str = "", until: str = "",
               cursor: str = "") -> Response:
    users.require_admin(user)
    filters = {"entity_type": entity_type, "entity_id": entity_id, "actor": actor, "action": action,
               "since": since, "until": until}
    errors: dict[str, str] = {}
    entries, next_cursor = [], None
    try:
        actor_id = None
        if actor.strip():
            found = users.list_users(session, user, q=actor.strip()[:200], include_inactive=True, limit=2).items
            if len(found) != 1:
                raise FormError({"actor": "name or email must match exactly one person"})
            actor_id = found[0].id
        try:
            wanted_id = uuid.UUID(entity_id) if entity_id.strip() else None
        except ValueError:
            raise FormError({"entity_id": "must be an id"}) from None
        page = audit.list_audit_logs(
            session, user, entity_type=entity_type or None, entity_id=wanted_id, actor_id=actor_id,
            action=action or None, since=_day(since, request, "since"), until=_day(until, request, "until"),
            limit=PAGE, cursor=cursor or None,
        )
        entries = [{"entry": e, "actor_name": getattr(e, "actor_name", None), "summary": summary(e.payload)}
                   for e in page.items]
        next_cursor = page.next_cursor
    except FormError as refused:
        errors = refused.errors
    return render(request, "audit.html", {"entries": entries, "next_cursor": next_cursor, "filters": filters,
                                          "entity_types": ENTITY_TYPES,
                                          "verification": audit_chain.last_verification(session),
                                          "actions": getattr(audit, "ACTIONS", ())},
                  errors=errors, status=422 if errors else 200)
