"""HTTP routes: nominations and approvals (thin: parse, call a service, return a schema)."""

import uuid

from fastapi import APIRouter, Response, status

from plaudit.api.deps import ClockDep, CurrentUser, PageDep, SessionDep
from plaudit.api.precedence import AnApprover, TheNominator
from plaudit.api.routing import PlauditRoute
from plaudit.models.enums import NominationStatus
from plaudit.schemas import nominations as schemas
from plaudit.schemas.common import Items, Page, page_json, page_of
from plaudit.services import approvals, nominations

router = APIRouter(tags=["nominations"], route_class=PlauditRoute)


@router.get("/cycles/{cycle_id}/nominations")
def list_nominations(
    cycle_id: uuid.UUID,
    session: SessionDep,
    actor: CurrentUser,
    page: PageDep,
    status: NominationStatus | None = None,
    nominee_id: uuid.UUID | None = None,
    nominator_id: uuid.UUID | None = None,
) -> Page[schemas.Nomination]:
    """The cycle's nominations the caller may see, oldest first."""
    found = nominations.list_nominations(
        session, actor, cycle_id, status=status, nominee_id=nominee_id, nominator_id=nominator_id,
        limit=page.limit, cursor=page.cursor,
    )
    return page_of(found, schemas.Nomination)


@router.get("/me/approvals", response_model=Page[schemas.Nomination])
def my_approval_queue(
    session: SessionDep, actor: CurrentUser, page: PageDep, clock: ClockDep, cycle_id: uuid.UUID | None = None
) -> Response:
    """The caller's queue: the nominations they may decide now and have not,
    most in need of a decision first (soonest deadline, fewest decisions).
    The JSON is built by PostgreSQL."""
    found = nominations.approval_queue_json(
        session, actor, cycle_id=cycle_id, limit=page.limit, cursor=page.cursor, clock=clock
    )
    return Response(page_json(found), media_type="application/json")


@router.get("/me/nominations")
def my_nominations(
    session: SessionDep,
    actor: CurrentUser,
    page: PageDep,
    cycle_id: uuid.UUID | None = None,
    status: NominationStatus | None = None,
) -> Page[schemas.Nomination]:
    """The nominations the caller made, newest first."""
    found = nominations.my_nominations(
        session, actor, cycle_id=cycle_id, status=status, limit=page.limit, cursor=page.cursor
    )
    return page_of(found, schemas.Nomination)


@router.post("/cycles/{cycle_id}/nominations", status_code=status.HTTP_201_CREATED)
def create_nomination(
    cycle_id: uuid.UUID, body: schemas.NominationCreate, session: SessionDep, actor: CurrentUser, clock: ClockDep
) -> schemas.Nomination:
    """Nominate a colleague (the caller is the nominator)."""
    nomination = nominations.create_nomination(
        session, actor, cycle_id, nominee_id=body.nominee_id, justification=body.justification, clock=clock
    )
    return schemas.Nomination.model_validate(nomination)


@router.get("/nominations/{nomination_id}")
def read_nomination(nomination_id: uuid.UUID, session: SessionDep, actor: CurrentUser) -> schemas.Nomination:
    return schemas.Nomination.model_validate(nominations.get_nomination(session, actor, nomination_id))


@router.patch("/nominations/{nomination_id}")
def update_nomination(
    nomination_id: uuid.UUID,
    body: schemas.NominationUpdate,
    session: SessionDep,
    actor: TheNominator,
    clock: ClockDep,
) -> schemas.Nomination:
    """Edit the justification (the nominator, while the nomination window is open)."""
    nomination = nominations.update_nomination(
        session, actor, nomination_id, justification=body.justification, clock=clock
    )
    return schemas.Nomination.model_validate(nomination)


@router.post("/nominations/{nomination_id}/withdraw")
def withdraw_nomination(
    nomination_id: uuid.UUID, session: SessionDep, actor: CurrentUser, clock: ClockDep
) -> schemas.Nomination:
    """Withdraw (the nominator or an admin); repeating it changes nothing."""
    return schemas.Nomination.model_validate(
        nominations.withdraw_nomination(session, actor, nomination_id, clock=clock)
    )


@router.put(
    "/nominations/{nomination_id}/approval",
    status_code=status.HTTP_200_OK,
    responses={201: {"description": "First approval by this approver", "model": schemas.ApprovalSubmitted}},
)
def submit_approval(
    nomination_id: uuid.UUID,
    body: schemas.ApprovalSubmit,
    response: Response,
    session: SessionDep,
    actor: AnApprover,
    clock: ClockDep,
) -> schemas.ApprovalSubmitted:
    """Record the caller's decision and ratings: 201 the first time, 200 when it replaces."""
    approval, created, nomination_status = approvals.submit_approval(
        session, actor, nomination_id, decision=body.decision, comment=body.comment,
        ratings=body.ratings, clock=clock,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return schemas.ApprovalSubmitted.model_validate(
        {**schemas.Approval.model_validate(approval).model_dump(), "nomination_status": nomination_status}
    )


@router.get("/nominations/{nomination_id}/approvals")
def list_approvals(nomination_id: uuid.UUID, session: SessionDep, actor: CurrentUser) -> Items[schemas.Approval]:
    """The nomination's approvals with ratings (admins and its approvers)."""
    found = approvals.list_approvals(session, actor, nomination_id)
    return Items[schemas.Approval](items=[schemas.Approval.model_validate(a) for a in found])
