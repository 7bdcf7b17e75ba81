"""HTTP routes: finalize, preview, results (JSON or CSV) and award history.

Thin: parse, call one service, return a schema. The rules live in
`plaudit.services.ranking`.
"""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import StreamingResponse

from plaudit.api.deps import ClockDep, CurrentUser, PageDep, SessionDep
from plaudit.api.precedence import AdminUser, AnAwardsReader
from plaudit.api.routing import PlauditRoute
from plaudit.schemas.common import Page
from plaudit.schemas.results import Award, Results, WhatIf
from plaudit.services import ranking

router = APIRouter(tags=["results"], route_class=PlauditRoute)


@router.post("/cycles/{cycle_id}/finalize", response_model=Results)
def finalize_cycle(
    cycle_id: uuid.UUID, request: Request, session: SessionDep, user: AdminUser, clock: ClockDep
) -> StreamingResponse:
    """Finalize the cycle (admin). Idempotent: a finalized or archived cycle
    returns its stored results unchanged. The body is streamed from the stored
    rows once the finalization has committed. Concurrent calls queue on the
    cycle's row lock, past the server's 1 s lock timeout (`ranking.finalize_cycle`)."""
    cycle = ranking.finalize_cycle(session, user, cycle_id, clock=clock)
    return _json_stream(request, cycle)


@router.get("/cycles/{cycle_id}/preview", response_model=Results)
def preview_cycle(cycle_id: uuid.UUID, session: SessionDep, user: AdminUser, clock: ClockDep) -> Results:
    """The live ranking of a published cycle (admin); nothing is stored."""
    return ranking.preview(session, user, cycle_id, clock=clock)


@router.post("/cycles/{cycle_id}/preview", response_model=Results)
def what_if(
    cycle_id: uuid.UUID, session: SessionDep, user: AdminUser, body: Annotated[WhatIf | None, Body()] = None
) -> Response:
    """What-if (admin): the ranking of a published, finalized or archived
    cycle with other weights and/or another normalisation; nothing is stored
    or audited. The JSON is built by PostgreSQL."""
    body = body or WhatIf()
    return Response(
        ranking.what_if(session, user, cycle_id, weights=body.weights, normalization=body.normalization),
        media_type="application/json",
    )


@router.get(
    "/cycles/{cycle_id}/results",
    response_model=Results,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def read_results(
    cycle_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    team_id: Annotated[uuid.UUID | None, Query(description="Only nominees in this team at finalization.")] = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="`csv` is for admins; default: the `Accept` header's choice.")
    ] = None,
):
    """The results of a finalized cycle: the whole ranking for admins, the
    winners for everyone else. `format=csv` or `Accept: text/csv` (admin)
    streams `text/csv`; an explicit `format` wins over the header."""
    if (format or _accepted(request)) == "csv":
        cycle = ranking.require_export(session, user, cycle_id)
        return StreamingResponse(
            ranking.csv_stream(request.app.state.sessionmaker, cycle.id, team_id=team_id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="results-{cycle.id}.csv"'},
        )
    cycle, winners_only = ranking.readable_results(session, user, cycle_id)
    return _json_stream(request, cycle, winners_only=winners_only, team_id=team_id)


def _accepted(request: Request) -> str:
    """`csv` when the `Accept` header names `text/csv` (with any parameters),
    else `json`."""
    types = (part.split(";", 1)[0].strip().lower() for part in request.headers.get("accept", "").split(","))
    return "csv" if "text/csv" in types else "json"


def _json_stream(request: Request, cycle, **filters) -> StreamingResponse:
    return StreamingResponse(
        ranking.results_stream(request.app.state.sessionmaker, cycle, **filters), media_type="application/json"
    )


@router.get("/users/{user_id}/awards", response_model=Page[Award])
def list_awards(user_id: uuid.UUID, session: SessionDep, user: AnAwardsReader, page: PageDep) -> Page[Award]:
    """A user's result rows in finalized and archived cycles, newest first."""
    found = ranking.list_awards(session, user, user_id, limit=page.limit, cursor=page.cursor)
    return Page[Award](items=found.items, next_cursor=found.next_cursor)
