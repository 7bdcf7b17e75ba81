"""Cycles (admin): the list, the editor (every field and the criteria
table), and the cycle page (close now, the live preview, finalize, archive).

The editor posts the whole form; the handler turns it into the calls the API
makes (update the cycle with the fields that changed; add, change or remove
criteria; publish when asked) inside one savepoint: if any call refuses,
nothing is kept and the form comes back with every refusal next to its field.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.models import Criterion, Cycle, User
from plaudit.models.enums import CycleStatus, Role, ScoreNormalization
from plaudit.schemas.cycles import CriterionCreate, CycleCreate
from plaudit.schemas.results import Results
from plaudit.services import criteria as criteria_service
from plaudit.services import cycles as cycle_service
from plaudit.services import ranking
from plaudit.services.users import require_admin
from plaudit.web import auth
from plaudit.web.forms import FORM, FormError, parse, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render, viewer_zone, zone_named

router = page_router()

WINDOWS = ("nomination_opens_at", "nomination_closes_at", "approval_opens_at", "approval_closes_at")
INTS = ("rating_min", "rating_max", "required_approvals", "award_slots", "winner_cooldown_cycles")
CYCLE_FIELDS = ("name", "description", *WINDOWS, *INTS, "max_nominations_per_nominator", "nominator_roles",
                "score_normalization")
CRITERION_FIELDS = ("name", "description", "weight")
STATUS_ORDER = (CycleStatus.draft, CycleStatus.published, CycleStatus.finalized, CycleStatus.archived)


@router.get("/cycles")
def cycles_page(request: Request, user: auth.PageUser, session: SessionDep, clock: ClockDep) -> Response:
    require_admin(user)
    found = cycle_service.list_cycles(session, user, include_archived=True, limit=200).items
    groups = [(status, [c for c in found if c.status == status]) for status in STATUS_ORDER]
    return render(request, "cycles/list.html", {"groups": groups, "now": clock.now()})


# --- the editor ------------------------------------------------------------------


@dataclass
class Row:
    """One line of the criteria table as shown (strings, as typed)."""

    id: str = ""
    name: str = ""
    description: str = ""
    weight: str = ""
    remove: bool = False


@dataclass
class Editor:
    values: dict[str, Any]
    rows: list[Row]
    zone: str
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        total = Decimal(0)
        for row in self.rows:
            try:
                total += Decimal(row.weight) if row.weight.strip() and not row.remove else 0
            except InvalidOperation:
                pass
        return total


def _local(value: datetime | None, request: Request) -> str:
    return value.astimezone(viewer_zone(request)).strftime("%Y-%m-%dT%H:%M") if value else ""


def _editor_of(request: Request, cycle: Cycle | None, criteria: list[Criterion], now: datetime) -> Editor:
    if cycle is None:
        start = now.replace(second=0, microsecond=0)  # open as soon as it is published
        values: dict[str, Any] = {
            "name": "", "description": "", "rating_min": "1", "rating_max": "5", "required_approvals": "1",
            "award_slots": "3", "winner_cooldown_cycles": "0", "max_nominations_per_nominator": "",
            "nominator_roles": [r.value for r in Role], "score_normalization": ScoreNormalization.none.value,
            "nomination_opens_at": _local(start, request),
            "nomination_closes_at": _local(start + timedelta(days=14), request),
            "approval_opens_at": _local(start, request),
            "approval_closes_at": _local(start + timedelta(days=21), request),
        }
    else:
        values = {name: getattr(cycle, name) for name in CYCLE_FIELDS}
        values.update({name: _local(getattr(cycle, name), request) for name in WINDOWS})
        values.update({name: str(getattr(cycle, name)) for name in INTS})
        values["max_nominations_per_nominator"] = str(cycle.max_nominations_per_nominator or "")
    rows = [Row(str(c.id), c.name, c.description, f"{c.weight:.4f}") for c in criteria]
    return Editor(values=values, rows=[*rows, Row()], zone=viewer_zone(request).key)


def _posted(request: Request, form: FormData) -> Editor:
    values: dict[str, Any] = {name: text(form, name) for name in CYCLE_FIELDS if name != "nominator_roles"}
    values["nominator_roles"] = [r for r in form.getlist("nominator_roles") if isinstance(r, str)]
    rows = []
    for index in range(int(text(form, "criteria_count") or 0)):
        prefix = f"criteria-{index}-"
        rows.append(Row(text(form, prefix + "id"), text(form, prefix + "name"), text(form, prefix + "description"),
                        text(form, prefix + "weight"), bool(form.get(prefix + "remove"))))
    return Editor(values=values, rows=rows, zone=text(form, "time_zone") or "UTC")


def _typed(editor: Editor) -> dict[str, Any]:
    """The cycle's fields as the schema takes them, or FormError by field."""
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {"name": editor.values["name"], "description": editor.values["description"],
                             "nominator_roles": editor.values["nominator_roles"],
                             "score_normalization": editor.values["score_normalization"]}
    zone = zone_named(editor.zone)
    for name in WINDOWS:
        try:
            typed[name] = datetime.fromisoformat(editor.values[name]).replace(tzinfo=zone).isoformat()
        except ValueError:
            errors[name] = "must be a date and time"
    for name in (*INTS, "max_nominations_per_nominator"):
        raw = editor.values[name].strip()
        if name == "max_nominations_per_nominator" and not raw:
            typed[name] = None
            continue
        try:
            typed[name] = int(raw)
        except ValueError:
            errors[name] = "must be a whole number"
    if errors:
        raise FormError(errors)
    return parse(CycleCreate, typed).model_dump()


def _save(session: Session, user: User, cycle: Cycle | None, editor: Editor) -> Cycle:
    """Create or update the cycle and its criteria; FormError (nothing kept) if anything refuses."""
    errors: dict[str, str] = {}
    try:
        values = _typed(editor)
    except FormError as refused:
        errors.update(refused.errors)
        values = None
    if values is not None:
        try:
            with refusals(session):
                if cycle is None:
                    cycle = cycle_service.create_cycle(session, user, **values)
                else:
                    changes = {k: v for k, v in values.items() if getattr(cycle, k) != v}
                    cycle_service.update_cycle(session, user, cycle.id, changes)
        except FormError as refused:
            errors.update(refused.errors)
    if cycle is not None:
        stored = {str(c.id): c for c in criteria_service.list_criteria(session, user, cycle.id)}
        for index, row in enumerate(editor.rows):
            errors.update(_save_row(session, user, cycle, index, row, stored.get(row.id)))
    if errors:
        raise FormError(errors)
    assert cycle is not None
    return cycle


def _save_row(session: Session, user: User, cycle: Cycle, index: int, row: Row,
              stored: Criterion | None) -> dict[str, str]:
    """Add, change or remove one criterion as its row asks; a row left as it
    was calls nothing (so a published cycle's editor saves its other fields)."""
    prefix = f"criteria-{index}-"
    named = {f: prefix + f for f in CRITERION_FIELDS}
    if not row.id and not (row.name.strip() or row.weight.strip() or row.description.strip()):
        return {}  # the empty line for a new criterion
    try:
        with refusals(session, {**named, "duplicate_name": prefix + "name"}):
            if row.remove and row.id:
                criteria_service.delete_criterion(session, user, uuid.UUID(row.id))
                return {}
            item = parse(CriterionCreate, {"name": row.name, "description": row.description,
                                           "weight": row.weight.strip() or None})
            given = item.model_dump(exclude={"position"})
            if stored is not None and all(getattr(stored, k) == v for k, v in given.items()):
                return {}
            if row.id:
                criteria_service.update_criterion(session, user, uuid.UUID(row.id), given)
            else:
                criteria_service.add_criterion(session, user, cycle.id, **given)
    except FormError as refused:
        return {named.get(k, k): v for k, v in refused.errors.items()}
    except ValueError:
        return {prefix + "name": "is not a criterion of this cycle"}
    return {}


def _editor_page(request: Request, cycle: Cycle | None, editor: Editor, *, status: int = 200) -> Response:
    return render(request, "cycles/edit.html", {"cycle": cycle, "editor": editor, "roles": list(Role),
                                                "normalizations": list(ScoreNormalization)},
                  errors=editor.errors, status=status)


@router.get("/cycles/new")
def new_cycle_page(request: Request, user: auth.PageUser, clock: ClockDep) -> Response:
    require_admin(user)
    return _editor_page(request, None, _editor_of(request, None, [], clock.now()))


@router.post("/cycles/new")
def create_cycle(request: Request, form: auth.Form, user: auth.PageUser, session: SessionDep) -> Response:
    require_admin(user)
    editor = _posted(request, form)
    try:
        with session.begin_nested():
            cycle = _save(session, user, None, editor)
    except FormError as refused:
        editor.errors = refused.errors
        return _editor_page(request, None, editor, status=422)
    return auth.redirect(f"/app/cycles/{cycle.id}/edit", flash="Cycle created. Add its criteria, then publish.")


@router.get("/cycles/{cycle_id}/edit")
def edit_cycle_page(request: Request, cycle_id: uuid.UUID, user: auth.PageUser, session: SessionDep,
                    clock: ClockDep) -> Response:
    cycle = cycle_service.get_cycle(session, user, cycle_id)
    require_admin(user)
    criteria = criteria_service.list_criteria(session, user, cycle_id)
    return _editor_page(request, cycle, _editor_of(request, cycle, criteria, clock.now()))


@router.post("/cycles/{cycle_id}/edit")
def edit_cycle(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser, session: SessionDep,
               clock: ClockDep) -> Response:
    cycle = cycle_service.get_cycle(session, user, cycle_id)
    require_admin(user)
    editor = _posted(request, form)
    action = text(form, "action")
    try:
        with session.begin_nested():
            _save(session, user, cycle, editor)
            if action == "publish":
                with refusals(session, {"weights_invalid": "weights", "cycle_state": FORM}):
                    cycle_service.publish_cycle(session, user, cycle.id, now=clock.now())
    except FormError as refused:
        session.refresh(cycle)
        editor.errors = refused.errors
        return _editor_page(request, cycle, editor, status=422)
    if action == "publish":
        return auth.redirect(f"/app/cycles/{cycle.id}", flash="The cycle is published.")
    flash = "Criterion added." if action == "add" else "Saved."
    return auth.redirect(f"/app/cycles/{cycle.id}/edit#criteria" if action == "add"
                         else f"/app/cycles/{cycle.id}/edit", flash=flash)


# --- the cycle page -------------------------------------------------------------


@dataclass
class WhatIf:
    """The what-if form: weights as typed, by criterion id; the ranking they give."""

    weights: dict[str, str]
    normalization: str
    results: Results | None = None


def _cycle_page(request: Request, session: Session, user: User, cycle_id: uuid.UUID, clock, *,
                errors: dict[str, str] | None = None, what_if: WhatIf | None = None,
                status: int = 200) -> Response:
    cycle = cycle_service.get_cycle(session, user, cycle_id)
    require_admin(user)
    criteria = criteria_service.list_criteria(session, user, cycle_id)
    preview = None
    if what_if is not None and what_if.results is not None:
        preview = what_if.results
    elif cycle.status == CycleStatus.published:
        preview = ranking.preview(session, user, cycle_id, clock=clock)
    if what_if is None:
        what_if = WhatIf({str(c.id): f"{c.weight:.4f}" for c in criteria}, cycle.score_normalization)
    now = clock.now()
    return render(request, "cycles/cycle.html", {
        "cycle": cycle, "criteria": criteria, "preview": preview, "what_if": what_if,
        "normalizations": list(ScoreNormalization),
        "nominations_open": cycle_service.nominations_open(cycle, now),
        "approvals_open": cycle_service.approvals_open(cycle, now),
        "can_finalize": cycle.status == CycleStatus.published and now >= cycle.approval_closes_at,
    }, errors=errors, status=status)


@router.post("/cycles/{cycle_id}/preview")
def what_if_preview(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser,
                    session: SessionDep, clock: ClockDep) -> Response:
    """The ranking with other weights (and normalization); nothing is stored."""
    criteria = criteria_service.list_criteria(session, user, cycle_id)
    asked = WhatIf({str(c.id): text(form, f"weight-{c.id}") for c in criteria}, text(form, "normalization"))
    errors: dict[str, str] = {}
    weights = {}
    for criterion in criteria:
        try:
            weights[criterion.id] = Decimal(asked.weights[str(criterion.id)])
        except InvalidOperation:
            errors[f"weight-{criterion.id}"] = "must be a number such as 0.2500"
    try:
        if errors:
            raise FormError(errors)
        with refusals(session, {"weights_invalid": "what_if", "cycle_state": "what_if"}):
            asked.results = Results.model_validate_json(ranking.what_if(
                session, user, cycle_id, weights=weights, normalization=asked.normalization or None))
    except FormError as refused:
        return _cycle_page(request, session, user, cycle_id, clock, what_if=asked, errors=refused.errors,
                           status=422)
    return _cycle_page(request, session, user, cycle_id, clock, what_if=asked)


@router.get("/cycles/{cycle_id}")
def cycle_page(request: Request, cycle_id: uuid.UUID, user: auth.PageUser, session: SessionDep,
               clock: ClockDep) -> Response:
    return _cycle_page(request, session, user, cycle_id, clock)


def _act(request: Request, session: Session, user: User, cycle_id: uuid.UUID, clock, action: str, call,
         done: str) -> Response:
    try:
        with refusals(session, {"window_closed": action, "cycle_state": action, "approvals_open": action,
                                "invalid_windows": action}):
            call()
    except FormError as refused:
        errors = {action: " ".join(refused.errors.values())}
        return _cycle_page(request, session, user, cycle_id, clock, errors=errors, status=409)
    return auth.redirect(f"/app/cycles/{cycle_id}", flash=done)


@router.post("/cycles/{cycle_id}/close-nominations")
def close_nominations(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser,
                      session: SessionDep, clock: ClockDep) -> Response:
    return _act(request, session, user, cycle_id, clock, "close_nominations",
                lambda: cycle_service.close_nominations(session, user, cycle_id, now=clock.now()),
                "Nominations are closed.")


@router.post("/cycles/{cycle_id}/close-approvals")
def close_approvals(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser,
                    session: SessionDep, clock: ClockDep) -> Response:
    return _act(request, session, user, cycle_id, clock, "close_approvals",
                lambda: cycle_service.close_approvals(session, user, cycle_id, now=clock.now()),
                "Approvals are closed. The cycle can be finalized.")


@router.post("/cycles/{cycle_id}/archive")
def archive(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser, session: SessionDep,
            clock: ClockDep) -> Response:
    return _act(request, session, user, cycle_id, clock, "archive",
                lambda: cycle_service.archive_cycle(session, user, cycle_id, now=clock.now()),
                "The cycle is archived.")


@router.get("/cycles/{cycle_id}/finalize")
def finalize_page(request: Request, cycle_id: uuid.UUID, user: auth.PageUser, session: SessionDep,
                  clock: ClockDep) -> Response:
    """The confirmation: how many nominations are still undecided (they will not count)."""
    cycle = cycle_service.get_cycle(session, user, cycle_id)
    require_admin(user)
    if cycle.status != CycleStatus.published:
        return auth.redirect(f"/app/cycles/{cycle_id}/results")
    preview = ranking.preview(session, user, cycle_id, clock=clock)
    return render(request, "cycles/finalize.html", {"cycle": cycle, "preview": preview})


@router.post("/cycles/{cycle_id}/finalize")
def finalize(request: Request, cycle_id: uuid.UUID, form: auth.Form, user: auth.PageUser, session: SessionDep,
             clock: ClockDep) -> Response:
    try:
        with refusals(session, {"approvals_open": FORM, "cycle_state": FORM}):
            ranking.finalize_cycle(session, user, cycle_id, clock=clock)
    except FormError as refused:
        cycle = cycle_service.get_cycle(session, user, cycle_id)
        preview = ranking.preview(session, user, cycle_id, clock=clock)
        return render(request, "cycles/finalize.html", {"cycle": cycle, "preview": preview},
                      errors=refused.errors, status=409)
    return auth.redirect(f"/app/cycles/{cycle_id}/results", flash="The cycle is finalized.")

