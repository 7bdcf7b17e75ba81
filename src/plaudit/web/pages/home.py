"""Home: open cycles, the user's nominations, what waits for an approver, awards."""

from fastapi import Request
from fastapi.responses import Response

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.web import auth
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()


@router.get("/")
def home(request: Request, user: auth.PageUser, session: SessionDep, clock: ClockDep) -> Response:
    return render(request, "home.html", {})
