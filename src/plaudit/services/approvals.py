"""Approvals: an approver's decision and ratings on a nomination, and the
nomination status that follows from all its approvals.

Decisions where DOMAIN.md is silent (also in the README):

- **Input first.** A `reject` needs a non-blank comment, and a comment is at
  most 2000 characters after trimming, without NUL; otherwise
  `validation_error`, before the seven ordered checks (the same moment the
  HTTP schema refuses a malformed body). Comments are stored trimmed; a blank
  comment on an `approve` is stored as null.
- **Resubmitting** the identical decision, comment and ratings is a success
  (200) that changes nothing: no write, no audit row.
- **Reading approvals** (`list_approvals`): admins and the nomination's
  approvers, as API.md says (DOMAIN.md's definition, so also a conflicted
  one, e.g. an admin who made the nomination), but never its nominee, whatever
  their role. Everyone else who can see the nomination (its plain nominator;
  its nominee after finalization) gets `forbidden`; the rest `not_found`.

Concurrency: the nomination row is locked FOR UPDATE before anything is read,
so concurrent submits on one nomination serialize: the same approver racing
themself gets exactly one approval row (one `created`, the others replace),
and two approvers never both compute the status from a stale count.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from plaudit.clock import Clock
from plaudit.errors import (
    ConflictOfInterest,
    CycleState,
    Forbidden,
    InvalidRatings,
    NominationState,
    NotApprover,
    ValidationFailed,
    WindowClosed,
)
from plaudit.models import Approval, ApprovalRating, Criterion, User
from plaudit.models.enums import CycleStatus, Decision, NominationStatus
from plaudit.services import audit, notifications
from plaudit.services.criteria import CRITERIA_ORDER
from plaudit.services.cycles import approvals_open
from plaudit.services.nominations import is_approver, load_nomination, may_read_approvals

COMMENT_MAX = 2000


@dataclass(frozen=True)
class RatingView:
    criterion_id: uuid.UUID
    criterion_name: str
    value: int


@dataclass(frozen=True)
class ApprovalView:
    """An approval with its approver's name and its ratings (in the criteria's
    list order), ready to show."""

    id: uuid.UUID
    nomination_id: uuid.UUID
    approver_id: uuid.UUID
    approver_name: str
    decision: str
    comment: str | None
    ratings: list[RatingView]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, approval: Approval, approver_name: str, ratings: list[RatingView]) -> "ApprovalView":
        return cls(
            id=approval.id,
            nomination_id=approval.nomination_id,
            approver_id=approval.approver_id,
            approver_name=approver_name,
            decision=approval.decision,
            comment=approval.comment,
            ratings=ratings,
            created_at=approval.created_at,
            updated_at=approval.updated_at,
        )


def _clean_comment(comment: str | None, decision: Decision) -> str | None:
    text = comment.strip() if comment is not None else ""
    problem = None
    if "\x00" in text:
        problem = "must not contain NUL characters"
    elif len(text) > COMMENT_MAX:
        problem = f"must be at most {COMMENT_MAX} characters"
    elif decision == Decision.reject and not text:
        problem = "is required when rejecting"
    if problem:
        raise ValidationFailed(f"comment {problem}", errors=[{"loc": ["body", "comment"], "msg": problem}])
    return text or None


def _parse_ratings(ratings: Any) -> list[tuple[Any, Any]]:
    """(criterion_id, value) pairs from [{criterion_id, value}] dicts, objects or pairs."""
    pairs = []
    for r in ratings or []:
        if isinstance(r, dict):
            pairs.append((r.get("criterion_id"), r.get("value")))
        elif isinstance(r, (tuple, list)) and len(r) == 2:
            pairs.append((r[0], r[1]))
        else:
            pairs.append((getattr(r, "criterion_id", None), getattr(r, "value", None)))
    return pairs


def _check_ratings(
    decision: Decision, pairs: list[tuple[Any, Any]], criteria: dict[uuid.UUID, str], low: int, high: int
) -> dict[uuid.UUID, int]:
    """Rule 7: approve → exactly one integer in [low, high] per criterion, nothing
    else; reject → none. `criteria`: the cycle's {id: name}, in list order.
    Returns {criterion_id: value}; `invalid_ratings` otherwise, naming
    criteria by name (an id that is no criterion of the cycle by its id)."""
    if decision == Decision.reject:
        if pairs:
            raise InvalidRatings("a reject carries no ratings")
        return {}
    given: dict[uuid.UUID, int] = {}
    for criterion_id, value in pairs:
        if isinstance(criterion_id, str):
            try:
                criterion_id = uuid.UUID(criterion_id)
            except ValueError:
                pass
        if criterion_id not in criteria:
            raise InvalidRatings(f"criterion {criterion_id} is not a criterion of this cycle")
        name = criteria[criterion_id]
        if criterion_id in given:
            raise InvalidRatings(f"criterion {name!r} is rated more than once")
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRatings(f"rating for {name!r} must be an integer")
        if not low <= value <= high:
            raise InvalidRatings(f"rating for {name!r} must be between {low} and {high}")
        given[criterion_id] = value
    missing = [name for criterion_id, name in criteria.items() if criterion_id not in given]
    if missing:
        raise InvalidRatings(f"missing ratings for {', '.join(map(repr, missing))}")
    return given


def _status_from(decisions: list[str], required: int, current: str) -> str:
    if current == NominationStatus.withdrawn:
        return current
    if Decision.reject in decisions:
        return NominationStatus.rejected.value
    if len(decisions) >= required:
        return NominationStatus.approved.value
    return NominationStatus.pending.value


def _ratings_json(ratings: dict[uuid.UUID, int]) -> list[dict[str, Any]]:
    return [{"criterion_id": str(c), "value": v} for c, v in sorted(ratings.items(), key=lambda kv: str(kv[0]))]


def _insert_ratings(session: Session, approval_id: uuid.UUID, ratings: dict[uuid.UUID, int]) -> None:
    """One bulk INSERT of an approval's ratings ({criterion_id: value}); nothing when empty."""
    if ratings:
        session.execute(
            insert(ApprovalRating),
            [{"approval_id": approval_id, "criterion_id": c, "value": v} for c, v in ratings.items()],
        )


def submit_approval(
    session: Session,
    actor: User,
    nomination_id: uuid.UUID,
    *,
    decision: Decision | str,
    comment: str | None = None,
    ratings: Any = None,
    clock: Clock,
) -> tuple[ApprovalView, bool, str]:
    """Record or replace `actor`'s approval of a nomination and recompute its
    status. Returns (approval, created, nomination_status).

    After the input (`validation_error`: comment), the checks of DOMAIN.md in
    order: `not_found`, `cycle_state`, `window_closed`, `nomination_state`
    (withdrawn), `not_approver`, `conflict_of_interest`, `invalid_ratings`.
    Writes one `approval.submit` row (entity approval): the approval's
    fields before/after (all of them on creation) and
    `"nomination_status": {"before", "after"}`; nothing when nothing changed.
    Tells the nominator when the status becomes approved or rejected
    (`notifications.nomination_decided`). Status: any reject → rejected; else approvals ≥ required_approvals →
    approved; else pending; withdrawn stays withdrawn.
    """
    try:
        decision = Decision(decision)
    except ValueError:
        raise ValidationFailed(
            "decision must be approve or reject",
            errors=[{"loc": ["body", "decision"], "msg": "must be approve or reject"}],
        ) from None
    comment = _clean_comment(comment, decision)
    pairs = _parse_ratings(ratings)
    now = clock.now()

    nomination, cycle = load_nomination(session, actor, nomination_id, lock=True)  # 1.
    if cycle.status != CycleStatus.published:  # 2.
        raise CycleState(f"cycle is {cycle.status}; approvals need a published cycle")
    if not approvals_open(cycle, now):  # 3.
        raise WindowClosed("the approval window is not open")
    if nomination.status == NominationStatus.withdrawn:  # 4.
        raise NominationState("the nomination was withdrawn")
    if not is_approver(session, actor, nomination):  # 5.
        raise NotApprover("you are not an approver of this nomination")
    if actor.id in (nomination.nominator_id, nomination.nominee_id):  # 6.
        raise ConflictOfInterest("you cannot approve a nomination you made or one about you")
    criteria_of_cycle = select(Criterion.id, Criterion.name).where(Criterion.cycle_id == cycle.id)
    criteria = dict(session.execute(criteria_of_cycle.order_by(*CRITERIA_ORDER)).all())
    new_ratings = _check_ratings(decision, pairs, criteria, cycle.rating_min, cycle.rating_max)  # 7.

    # Under the nomination lock: every approval of it, this approver's included.
    approvals = list(session.scalars(select(Approval).where(Approval.nomination_id == nomination.id)))
    mine = next((a for a in approvals if a.approver_id == actor.id), None)
    status_before = nomination.status

    if mine is None:
        created = True
        mine = Approval(nomination_id=nomination.id, approver_id=actor.id, decision=decision.value, comment=comment)
        session.add(mine)
        session.flush()
        _insert_ratings(session, mine.id, new_ratings)
        approvals.append(mine)
        before_fields = None
    else:
        created = False
        old_ratings = dict(
            session.execute(
                select(ApprovalRating.criterion_id, ApprovalRating.value).where(
                    ApprovalRating.approval_id == mine.id
                )
            ).all()
        )
        before_fields = {"decision": mine.decision, "comment": mine.comment, "ratings": _ratings_json(old_ratings)}
        if old_ratings != new_ratings:
            session.execute(delete(ApprovalRating).where(ApprovalRating.approval_id == mine.id))
            _insert_ratings(session, mine.id, new_ratings)
        if (mine.decision, mine.comment) != (decision.value, comment) or old_ratings != new_ratings:
            mine.decision = decision.value
            mine.comment = comment
            mine.updated_at = func.now()  # also when only the ratings changed
            session.flush()

    status_after = _status_from([a.decision for a in approvals], cycle.required_approvals, status_before)
    if status_after != status_before:
        nomination.status = status_after
        session.flush()
        if status_after != NominationStatus.pending:
            notifications.nomination_decided(session, nomination, status_after)

    after_fields = {"decision": mine.decision, "comment": mine.comment, "ratings": _ratings_json(new_ratings)}
    changed = before_fields != after_fields or status_after != status_before
    if changed:
        audit.record(
            session,
            actor_id=actor.id,
            action="approval.submit",
            entity_type="approval",
            entity_id=mine.id,
            before=before_fields,
            after=after_fields,
            extra={
                "nomination_id": nomination.id,
                "nomination_status": {"before": status_before, "after": status_after},
            },
        )
    ratings = [RatingView(c, name, new_ratings[c]) for c, name in criteria.items() if c in new_ratings]
    return ApprovalView.of(mine, actor.display_name, ratings), created, status_after


def list_approvals(session: Session, actor: User | None, nomination_id: uuid.UUID) -> list[ApprovalView]:
    """The nomination's approvals with their approvers' names and their
    ratings (with the criteria's names, in list order), ordered (created_at, id).

    `not_found` if `actor` cannot see the nomination; `forbidden` unless they
    are an admin or one of its approvers, and never for its nominee (who may
    see an approved nomination about them once the cycle is finalized).
    Two queries for the rows, whatever their number.
    """
    nomination, _cycle = load_nomination(session, actor, nomination_id)
    if not may_read_approvals(session, actor, nomination):
        raise Forbidden("only admins and the nomination's approvers may read its approvals, never its nominee")
    approvals = session.execute(
        select(Approval, User.display_name)
        .join(User, User.id == Approval.approver_id)
        .where(Approval.nomination_id == nomination.id)
        .order_by(Approval.created_at, Approval.id)
    ).all()
    ratings: dict[uuid.UUID, list[RatingView]] = {a.id: [] for a, _ in approvals}
    if approvals:
        rows = session.execute(
            select(ApprovalRating.approval_id, ApprovalRating.criterion_id, Criterion.name, ApprovalRating.value)
            .join(Approval, Approval.id == ApprovalRating.approval_id)
            .join(Criterion, Criterion.id == ApprovalRating.criterion_id)
            .where(Approval.nomination_id == nomination.id)
            .order_by(*CRITERIA_ORDER)
        )
        for approval_id, criterion_id, name, value in rows:
            ratings[approval_id].append(RatingView(criterion_id, name, value))
    return [ApprovalView.of(a, name, ratings[a.id]) for a, name in approvals]


__all__ = ["ApprovalView", "RatingView", "list_approvals", "submit_approval"]
