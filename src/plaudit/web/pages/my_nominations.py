"""My nominations: what the user nominated, with Edit and Withdraw."""

import uuid

from fastapi import Request
from fastapi.responses import Response

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.models.enums import NominationStatus
from plaudit.services import nominations
from plaudit.services.nominations import JUSTIFICATION_MAX, JUSTIFICATION_MIN
from plaudit.web import auth
from plaudit.web.forms import FORM, FormError, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

PAGE = 50
STATE_FIELDS = {"window_closed": FORM, "nomination_state": FORM, "cycle_state": FORM, "forbidden": FORM}


@router.get("/my/nominations")
def my_nominations(request: Request, user: auth.PageUser, session: SessionDep, cursor: str = "") -> Response:
    page = nominations.my_nominations(session, user, limit=PAGE, cursor=cursor or None)
    return render(request, "nominations/mine.html", {"nominations": page.items, "next_cursor": page.next_cursor,
                                                     "pending": NominationStatus.pending.value,
                                                     "withdrawn": NominationStatus.withdrawn.value})


def _edit_page(request: Request, nomination, justification: str, *, errors=None, status: int = 200) -> Response:
    return render(request, "nominations/edit.html", {"nomination": nomination, "justification": justification,
                                                     "min": JUSTIFICATION_MIN, "max": JUSTIFICATION_MAX},
                  errors=errors, status=status)


@router.get("/nominations/{nomination_id}/edit")
def edit_page(request: Request, nomination_id: uuid.UUID, user: auth.PageUser, session: SessionDep) -> Response:
    nomination = nominations.get_nomination(session, user, nomination_id)
    return _edit_page(request, nomination, nomination.justification)


@router.post("/nominations/{nomination_id}/edit")
def edit(request: Request, nomination_id: uuid.UUID, form: auth.Form, user: auth.PageUser, session: SessionDep,
         clock: ClockDep) -> Response:
    justification = text(form, "justification")
    try:
        with refusals(session, STATE_FIELDS):
            nominations.update_nomination(session, user, nomination_id, justification=justification, clock=clock)
    except FormError as refused:
        nomination = nominations.get_nomination(session, user, nomination_id)
        return _edit_page(request, nomination, justification, errors=refused.errors, status=422)
    return auth.redirect("/app/my/nominations", flash="Your nomination is updated.")


@router.post("/nominations/{nomination_id}/withdraw")
def withdraw(request: Request, nomination_id: uuid.UUID, form: auth.Form, user: auth.PageUser,
             session: SessionDep, clock: ClockDep) -> Response:
    try:
        with refusals(session, STATE_FIELDS):
            nomination = nominations.withdraw_nomination(session, user, nomination_id, clock=clock)
    except FormError as refused:
        return auth.redirect("/app/my/nominations", flash="Not withdrawn: " + " ".join(refused.errors.values()))
    return auth.redirect("/app/my/nominations", flash=f"Your nomination of {nomination.nominee_name} is withdrawn.")
