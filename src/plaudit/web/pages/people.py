"""People (admin): users and teams, search, Add person, Import CSV (a dry
run's report, then Apply import), and Send sign-in link.

The import form carries the uploaded file back to the server inside the
report page (base64 in a hidden field), so Apply import applies exactly the
file whose dry run was shown: its SHA-256 is on both pages.
"""

import base64
import binascii
import hashlib
import uuid

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.errors import DomainError
from plaudit.models.enums import Role
from plaudit.schemas.people import UserCreate
from plaudit.services import imports, passwords, teams, users
from plaudit.web import auth
from plaudit.web.forms import FormError, parse, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

PAGE = 50
TEAMS_SHOWN = 200


def _people_page(request: Request, session, user, *, q: str = "", cursor: str | None = None,
                 add: dict | None = None, errors=None, link=None, status: int = 200) -> Response:
    users.require_admin(user)
    found = users.list_users(session, user, q=q or None, include_inactive=True, limit=PAGE, cursor=cursor)
    all_teams = teams.list_teams(session, user, limit=TEAMS_SHOWN).items
    team_names = {t.id: t.name for t in all_teams}
    return render(request, "people/people.html", {
        "people": found.items, "next_cursor": found.next_cursor, "q": q, "teams": all_teams,
        "team_names": team_names, "roles": list(Role),
        "add": add or {"email": "", "display_name": "", "role": "employee", "team_id": ""}, "link": link,
    }, errors=errors, status=status)


@router.get("/people")
def people(request: Request, user: auth.PageUser, session: SessionDep, q: str = "",
           cursor: str | None = None) -> Response:
    return _people_page(request, session, user, q=q[:200], cursor=cursor or None)


@router.post("/people")
def add_person(request: Request, form: auth.Form, user: auth.PageUser, session: SessionDep) -> Response:
    add = {name: text(form, name) for name in ("email", "display_name", "role", "team_id")}
    try:
        body = parse(UserCreate, {**add, "team_id": add["team_id"] or None})
        with refusals(session, {"duplicate_name": "email"}):
            person = users.create_user(session, user, **body.model_dump())
    except FormError as refused:
        return _people_page(request, session, user, add=add, errors=refused.errors, status=422)
    return auth.redirect(f"/app/people?q={person.email}", flash=f"{person.display_name} is added. "
                         "Send them a sign-in link so they can set a password.")


@router.post("/people/{person_id}/sign-in-link")
def send_link(request: Request, person_id: uuid.UUID, form: auth.Form, user: auth.PageUser, session: SessionDep,
              clock: ClockDep) -> Response:
    """Until email exists, the admin is shown the link to pass on."""
    person = users.get_user(session, user, person_id)
    secret = passwords.issue_link(session, user, person, now=clock.now())
    link = f"{str(request.base_url).rstrip('/')}/app/set-password/{secret}"
    return _people_page(request, session, user, q=person.email,
                        link={"person": person.display_name, "url": link,
                              "hours": int(passwords.LINK_VALIDITY["invite"].total_seconds() // 3600)})


@router.get("/people/import")
def import_page(request: Request, user: auth.PageUser) -> Response:
    users.require_admin(user)
    return _import_page(request)


def _import_page(request: Request, *, errors=None, status: int = 200, **context) -> Response:
    page = {"report": None, "file": None, "deactivate_missing": False, "problems": [], **context}
    return render(request, "people/import.html", page, errors=errors, status=status)


@router.post("/people/import")
def import_people(request: Request, form: auth.Form, user: auth.PageUser, session: SessionDep,
                  clock: ClockDep) -> Response:
    """`Check file` runs a dry run and shows its report; `Apply import` applies the same file."""
    users.require_admin(user)
    upload, carried = form.get("file"), text(form, "file_data")
    deactivate_missing = bool(form.get("deactivate_missing"))
    try:
        data = base64.b64decode(carried, validate=True) if carried else None
    except (binascii.Error, ValueError):
        data = None
    if isinstance(upload, UploadFile) and upload.filename:
        data = upload.file.read()
    if not data:
        return _import_page(request, deactivate_missing=deactivate_missing, errors={"file": "Choose a CSV file"},
                            status=422)
    apply = text(form, "action") == "apply"
    context = {"file": {"data": base64.b64encode(data).decode(), "sha256": hashlib.sha256(data).hexdigest()},
               "deactivate_missing": deactivate_missing}
    try:
        with session.begin_nested():
            context["report"] = imports.import_people(session, user, data, dry_run=not apply,
                                                      deactivate_missing=deactivate_missing, now=clock.now())
    except DomainError as refused:
        problems = refused.errors or [{"line": None, "column": None, "msg": refused.message}]
        return _import_page(request, problems=problems, status=422, **context)
    if apply:
        report = context["report"]
        return auth.redirect("/app/people", flash=f"Import applied: {report.created} created, {report.updated} "
                             f"updated, {report.deactivated} deactivated, {report.teams_created} teams created.")
    return _import_page(request, **context)
