"""Approvals (approvers): the queue with its progress line, and a
nomination's page to rate, comment and decide; after a decision the next
nomination of the queue opens ("save and next": the queue's own order puts
first what most needs a decision)."""

import uuid

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.errors import Forbidden
from plaudit.models import User
from plaudit.services import approvals, nominations
from plaudit.services import criteria as criteria_service
from plaudit.services import cycles as cycle_service
from plaudit.web import auth
from plaudit.web.forms import FORM, FormError, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

PAGE = 50
DECISION_FIELDS = {"invalid_ratings": "ratings", "conflict_of_interest": FORM, "not_approver": FORM,
                   "window_closed": FORM, "nomination_state": FORM, "cycle_state": FORM}


@router.get("/approvals")
def queue(request: Request, user: auth.PageUser, session: SessionDep, clock: ClockDep,
          cursor: str = "") -> Response:
    page = nominations.approval_queue(session, user, limit=PAGE, cursor=cursor or None, clock=clock)
    progress = _progress(request, session, user, clock)
    return render(request, "approvals/queue.html", {"queue": page.items, "next_cursor": page.next_cursor,
                                                    "progress": progress})


def _progress(request: Request, session: Session, user: User, clock) -> nominations.QueueProgress:
    """The header's (same request, same counts), else counted now."""
    header = getattr(request.state, "header", None)
    if header is not None and header.progress is not None:
        return header.progress
    return nominations.queue_progress(session, user, clock=clock)


def _decision_page(request: Request, session: Session, user: User, nomination_id: uuid.UUID, clock, *,
                   form: FormData | None = None, errors=None, status: int = 200) -> Response:
    nomination = nominations.get_nomination(session, user, nomination_id)
    cycle = cycle_service.get_cycle(session, user, nomination.cycle_id)
    criteria = criteria_service.list_criteria(session, user, cycle.id)
    try:
        mine = next((a for a in approvals.list_approvals(session, user, nomination.id)
                     if a.approver_id == user.id), None)
    except Forbidden:
        mine = None
    chosen = {str(r.criterion_id): str(r.value) for r in mine.ratings} if mine else {}
    comment = (mine.comment or "") if mine else ""
    if form is not None:
        chosen = {str(c.id): text(form, f"rating-{c.id}") for c in criteria}
        comment = text(form, "comment")
    progress = _progress(request, session, user, clock)
    return render(request, "approvals/decide.html", {
        "nomination": nomination, "cycle": cycle, "criteria": criteria, "scale": range(cycle.rating_min,
                                                                                       cycle.rating_max + 1),
        "chosen": chosen, "comment": comment, "mine": mine, "progress": progress,
    }, errors=errors, status=status)


@router.get("/approvals/{nomination_id}")
def decision_page(request: Request, nomination_id: uuid.UUID, user: auth.PageUser, session: SessionDep,
                  clock: ClockDep) -> Response:
    return _decision_page(request, session, user, nomination_id, clock)


@router.post("/approvals/{nomination_id}")
def decide(request: Request, nomination_id: uuid.UUID, form: auth.Form, user: auth.PageUser,
           session: SessionDep, clock: ClockDep) -> Response:
    decision = text(form, "decision")
    nomination = nominations.get_nomination(session, user, nomination_id)
    criteria = criteria_service.list_criteria(session, user, nomination.cycle_id)
    ratings, errors = [], {}
    if decision == "approve":
        for criterion in criteria:
            raw = text(form, f"rating-{criterion.id}")
            if not raw.isdigit():
                errors[f"rating-{criterion.id}"] = f"Choose a rating for {criterion.name}"
            else:
                ratings.append({"criterion_id": criterion.id, "value": int(raw)})
    try:
        if errors:
            raise FormError(errors)
        with refusals(session, DECISION_FIELDS):
            approvals.submit_approval(session, user, nomination_id, decision=decision,
                                      comment=text(form, "comment") or None, ratings=ratings, clock=clock)
    except FormError as refused:
        return _decision_page(request, session, user, nomination_id, clock, form=form, errors=refused.errors,
                              status=422)
    verb = "approved" if decision == "approve" else "rejected"
    done = f"You {verb} the nomination of {nomination.nominee_name}."
    following = nominations.approval_queue(session, user, limit=1, clock=clock).items
    if following:
        return auth.redirect(f"/app/approvals/{following[0].id}", flash=f"{done} Here is the next one.")
    return auth.redirect("/app/approvals", flash=f"{done} Your queue is empty.")
