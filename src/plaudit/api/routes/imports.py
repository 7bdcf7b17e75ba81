"""HTTP route: the people import (the body is the CSV file itself)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.api.precedence import AdminUser
from plaudit.api.routing import PlauditRoute
from plaudit.errors import ValidationFailed
from plaudit.schemas.common import QueryBool
from plaudit.schemas.imports import ImportReport
from plaudit.services import imports

router = APIRouter(tags=["imports"], route_class=PlauditRoute)

CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "The CSV file: UTF-8 (a BOM is allowed), a header row, comma-separated, RFC 4180 quoting. "
        "Columns: email, display_name, role (required); team, team_manager_email, active (optional).",
        "content": {"text/csv": {"schema": {"type": "string"},
                                 "example": "email,display_name,role,team,team_manager_email\n"
                                            "ada@example.org,Ada Lovelace,manager,Engines,ada@example.org\n"}},
    }
}


@router.post("/imports/people", openapi_extra=CSV_BODY)
async def import_people(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    clock: ClockDep,
    dry_run: Annotated[QueryBool, Query(description="Report what would happen; change nothing.")] = False,
    deactivate_missing: Annotated[
        QueryBool, Query(description="Deactivate active users absent from the file.")
    ] = False,
) -> ImportReport:
    """Create and update users and teams from HR's CSV export (admins). All or
    nothing: any bad row is a `422 import_invalid` listing every one, and
    nothing changes. The body may be up to 32 MiB (about 400,000 rows); any
    content type but JSON is read as the CSV file (so `curl --data-binary
    @people.csv` works without a header)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        raise ValidationFailed("the body must be the CSV file itself (Content-Type: text/csv), not JSON",
                               errors=[{"loc": ["body"], "msg": "must be text/csv"}])
    data = await request.body()
    return await run_in_threadpool(
        imports.import_people, session, actor, data,
        dry_run=dry_run, deactivate_missing=deactivate_missing, now=clock.now(),
    )
