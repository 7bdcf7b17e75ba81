"""Nominate a colleague, and the colleague search behind the field.

The **Colleague** field takes a name or an email. Without JavaScript the
server resolves it: one active person matches -> that person; several ->
the form comes back listing them to pick one; none -> a refusal in words.
With JavaScript, suggestions appear as you type (`/app/people/search`), each
"Name <email>", which resolves to exactly one person.
"""

import re
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.models import User
from plaudit.services import cycles as cycle_service
from plaudit.services import nominations, users
from plaudit.services.nominations import JUSTIFICATION_MAX, JUSTIFICATION_MIN
from plaudit.web import auth
from plaudit.web.forms import FormError, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

SUGGESTIONS = 8
_EMAIL_IN_BRACKETS = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*$")
NOMINEE_FIELDS = {"nominee_id": "colleague", "self_nomination": "colleague", "invalid_nominee": "colleague",
                  "duplicate_nomination": "colleague", "quota_exceeded": "colleague"}


def person_label(person: User) -> str:
    return f"{person.display_name} <{person.email}>"


@router.get("/people/search")
def search(user: auth.PageUser, session: SessionDep, q: str = "") -> JSONResponse:
    """Active people whose name or email contains `q` (the API's user search)."""
    found = users.list_users(session, user, q=q[:200], limit=SUGGESTIONS).items if q.strip() else []
    return JSONResponse({"items": [{"id": str(p.id), "label": person_label(p)} for p in found]})


def resolve_colleague(session: Session, user: User, given: str, picked: str) -> uuid.UUID:
    """The person the Colleague field names, or FormError saying why not."""
    if picked:
        try:
            return uuid.UUID(picked)
        except ValueError:
            pass
    query = given.strip()
    if not query:
        raise FormError({"colleague": "Type a colleague's name or email"})
    bracketed = _EMAIL_IN_BRACKETS.search(query)
    if bracketed:
        query = bracketed.group(1)
    found = users.list_users(session, user, q=query[:200], limit=SUGGESTIONS).items
    exact = [p for p in found if p.email == query.lower()]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0].id
    if not found:
        raise FormError({"colleague": f"No active colleague matches “{given.strip()}”"})
    raise MatchesSeveral(found)


class MatchesSeveral(FormError):
    def __init__(self, people: list[User]) -> None:
        super().__init__({"colleague": "Several people match; pick one below"})
        self.people = people


def _form(request: Request, cycle, *, colleague: str = "", justification: str = "", choices=(),
          errors=None, status: int = 200) -> Response:
    return render(request, "nominations/nominate.html", {
        "cycle": cycle, "colleague": colleague, "justification": justification, "choices": choices,
        "min": JUSTIFICATION_MIN, "max": JUSTIFICATION_MAX,
    }, errors=errors, status=status)


@router.get("/nominate")
def choose_cycle(request: Request, user: auth.PageUser, session: SessionDep, clock: ClockDep) -> Response:
    """The cycles open for nominations now; with just one, straight to its form."""
    now = clock.now()
    published = cycle_service.list_cycles(session, user, status="published", limit=200).items
    open_now = [c for c in published if cycle_service.nominations_open(c, now)]
    if len(open_now) == 1:
        return auth.redirect(f"/app/cycles/{open_now[0].id}/nominate")
    return render(request, "nominations/choose.html", {"cycles": open_now})


@router.get("/cycles/{cycle_id}/nominate")
def nominate_page(request: Request, cycle_id: uuid.UUID, user: auth.PageUser, session: SessionDep) -> Response:
    return _form(request, cycle_service.get_cycle(session, user, cycle_id))


@router.post("/cycles/{cycle_id}/nominate")
def nominate(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser, session: SessionDep,
             clock: ClockDep) -> Response:
    cycle = cycle_service.get_cycle(session, user, cycle_id)
    colleague, justification = text(form, "colleague"), text(form, "justification")
    try:
        nominee_id = resolve_colleague(session, user, colleague, text(form, "nominee_id"))
        with refusals(session, NOMINEE_FIELDS):
            nominations.create_nomination(session, user, cycle.id, nominee_id=nominee_id,
                                          justification=justification, clock=clock)
    except MatchesSeveral as several:
        return _form(request, cycle, colleague=colleague, justification=justification, choices=several.people,
                     errors=several.errors, status=422)
    except FormError as refused:
        return _form(request, cycle, colleague=colleague, justification=justification, errors=refused.errors,
                     status=422)
    return auth.redirect("/app/my/nominations", flash="Your nomination is submitted. Thank you!")
