"""Home: open cycles with their windows and time left, the user's own
nominations, what waits for an approver, and the user's awards."""

from fastapi import Request
from fastapi.responses import Response

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.models.enums import CycleStatus
from plaudit.services import cycles as cycle_service
from plaudit.services import nominations, ranking
from plaudit.web import auth
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

SHOWN = 5  # of the user's nominations and awards; the full lists have their pages
OPEN_CYCLES = 20


@router.get("/")
def home(request: Request, user: auth.PageUser, session: SessionDep, clock: ClockDep) -> Response:
    now = clock.now()
    published = cycle_service.list_cycles(session, user, status=CycleStatus.published, limit=OPEN_CYCLES).items
    open_cycles = [
        {"cycle": c, "nominations_open": cycle_service.nominations_open(c, now),
         "approvals_open": cycle_service.approvals_open(c, now)}
        for c in published
    ]
    open_cycles = [c for c in open_cycles if c["nominations_open"] or c["approvals_open"]]
    mine = nominations.my_nominations(session, user, limit=SHOWN)
    awards = ranking.list_awards(session, user, user.id, limit=SHOWN).items
    return render(request, "home.html", {"open_cycles": open_cycles, "mine": mine.items, "more_mine": bool(
        mine.next_cursor), "awards": awards, "waiting": request.state.header.waiting, "now": now})
