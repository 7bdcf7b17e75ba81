"""Results of a finalized cycle: everything for admins (with the CSV), the
winners for everyone else; 404 for a cycle the viewer may not see."""

import uuid

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from plaudit.api.deps import SessionDep
from plaudit.services import ranking
from plaudit.web import auth
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()


@router.get("/cycles/{cycle_id}/results")
def results_page(request: Request, cycle_id: uuid.UUID, user: auth.PageUser, session: SessionDep) -> Response:
    cycle, winners_only = ranking.readable_results(session, user, cycle_id)
    results = ranking.stored_results(session, cycle, winners_only=winners_only)
    return render(request, "results/results.html", {"results": results, "winners_only": winners_only})


@router.get("/cycles/{cycle_id}/results.csv")
def results_csv(request: Request, cycle_id: uuid.UUID, user: auth.PageUser, session: SessionDep) -> Response:
    cycle = ranking.require_export(session, user, cycle_id)
    return StreamingResponse(
        ranking.csv_stream(request.app.state.sessionmaker, cycle.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="results-{cycle.id}.csv"'},
    )
