"""Profile: who you are, and Change password."""

from fastapi import Request
from fastapi.responses import Response

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.models import Team
from plaudit.services import passwords, signin
from plaudit.web import auth
from plaudit.web.forms import FormError, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()


def _page(request: Request, session, user, *, errors=None, status=200) -> Response:
    team = session.get(Team, user.team_id) if user.team_id else None
    return render(request, "profile.html", {"team": team}, errors=errors, status=status)


@router.get("/me")
def profile(request: Request, user: auth.PageUser, session: SessionDep) -> Response:
    return _page(request, session, user)


@router.post("/me/password")
def change_password(request: Request, form: auth.Form, user: auth.PageUser, session: SessionDep,
                    clock: ClockDep) -> Response:
    now = clock.now()
    try:
        with refusals(session):
            passwords.change_password(
                session, user, current_password=text(form, "current_password"),
                new_password=text(form, "new_password"), repeat_password=text(form, "repeat_password"), now=now,
            )
    except FormError as refused:
        return _page(request, session, user, errors=refused.errors, status=422)
    # Every session ended with the change; this browser gets a fresh one.
    secret = signin.start_session(session, user, now=now)
    return auth.start(auth.redirect("/app/me", flash="Your password is changed. Other browsers are signed out."),
                      secret)
