"""Plain functions that build rows directly (no services, no audit rows),
for arranging a test. Every argument has a sensible default; names are unique.

Add a factory at the END of this file with a small focused edit; never rewrite it.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from plaudit.models import (
    ApiToken,
    Approval,
    ApprovalRating,
    Criterion,
    Cycle,
    Nomination,
    Team,
    User,
)
from plaudit.services.auth import hash_token, new_secret
from tests.conftest import NOW


def _uniq() -> str:
    return uuid.uuid4().hex[:8]


def make_team(session: Session, *, name: str | None = None, manager: User | None = None) -> Team:
    team = Team(name=name or f"Team {_uniq()}", manager_id=manager.id if manager else None)
    session.add(team)
    session.flush()
    return team


def make_user(
    session: Session,
    *,
    role: str = "employee",
    team: Team | None = None,
    email: str | None = None,
    display_name: str | None = None,
    is_active: bool = True,
) -> User:
    tag = _uniq()
    user = User(
        email=email or f"{role}-{tag}@example.org",
        display_name=display_name or f"{role.title()} {tag}",
        role=role,
        team_id=team.id if team else None,
        is_active=is_active,
    )
    session.add(user)
    session.flush()
    return user


def make_token(
    session: Session, user: User, *, expires_at: datetime | None = None, revoked_at: datetime | None = None
) -> str:
    """Issue a token for `user`; returns the secret (for `auth(secret)`)."""
    secret = new_secret()
    session.add(
        ApiToken(user_id=user.id, name="test", token_hash=hash_token(secret), expires_at=expires_at,
                 revoked_at=revoked_at)
    )
    session.flush()
    return secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_cycle(
    session: Session,
    *,
    status: str = "published",
    now: datetime = NOW,
    nominations: str = "open",
    approvals: str = "open",
    **fields,
) -> Cycle:
    """A cycle around `now`. `nominations`/`approvals` place each window
    relative to now: "before" (not yet open), "open", or "after" (closed).
    Every combination the invariants allow is available; by default both are open."""
    d = timedelta(days=1)
    nomination_window = {"before": (1, 5), "open": (-5, 5), "after": (-10, -5)}[nominations]
    approval_window = {
        ("before", "before"): (2, 6),
        ("open", "before"): (1, 6),
        ("after", "before"): (1, 6),
        ("open", "open"): (-5, 6),
        ("after", "open"): (-4, 6),
        ("after", "after"): (-4, -1),
    }.get((nominations, approvals))
    if approval_window is None:
        raise ValueError(f"no valid cycle has nominations {nominations} and approvals {approvals}")
    n_open, n_close = (now + k * d for k in nomination_window)
    a_open, a_close = (now + k * d for k in approval_window)
    values = dict(
        name=f"Cycle {_uniq()}",
        description="",
        status=status,
        nomination_opens_at=n_open,
        nomination_closes_at=n_close,
        approval_opens_at=a_open,
        approval_closes_at=a_close,
        published_at=None if status == "draft" else now - 6 * d,
        finalized_at=now if status in ("finalized", "archived") else None,
        archived_at=now if status == "archived" else None,
    )
    values.update(fields)
    cycle = Cycle(**values)
    session.add(cycle)
    session.flush()
    return cycle


def make_criterion(
    session: Session, cycle: Cycle, *, name: str | None = None, weight: str | Decimal = "1", position: int = 0,
    description: str = "",
) -> Criterion:
    criterion = Criterion(
        cycle_id=cycle.id, name=name or f"Criterion {_uniq()}", weight=Decimal(weight), position=position,
        description=description,
    )
    session.add(criterion)
    session.flush()
    return criterion


def make_nomination(
    session: Session,
    cycle: Cycle,
    nominator: User,
    nominee: User,
    *,
    status: str = "pending",
    justification: str = "Consistently goes above and beyond.",
) -> Nomination:
    nomination = Nomination(
        cycle_id=cycle.id,
        nominator_id=nominator.id,
        nominee_id=nominee.id,
        justification=justification,
        status=status,
        withdrawn_at=NOW if status == "withdrawn" else None,
    )
    session.add(nomination)
    session.flush()
    return nomination


def make_approval(
    session: Session,
    nomination: Nomination,
    approver: User,
    *,
    decision: str = "approve",
    ratings: dict[Criterion, int] | None = None,
    comment: str | None = None,
) -> Approval:
    """An approval with its ratings (no status recomputation: set the
    nomination's status yourself if the test needs it)."""
    approval = Approval(
        nomination_id=nomination.id,
        approver_id=approver.id,
        decision=decision,
        comment=comment if comment is not None else ("Not this time." if decision == "reject" else None),
    )
    session.add(approval)
    session.flush()
    for criterion, value in (ratings or {}).items():
        session.add(ApprovalRating(approval_id=approval.id, criterion_id=criterion.id, value=value))
    session.flush()
    return approval


@dataclass
class Org:
    """The people around one nomination: `nominee` and `nominator` are in
    `team`, managed by `manager`; `other_manager` manages another team;
    `stranger` has no team."""

    admin: User
    manager: User
    team: Team
    nominee: User
    nominator: User
    other_manager: User
    stranger: User


def make_org(session: Session) -> Org:
    admin = make_user(session, role="admin")
    manager = make_user(session, role="manager")
    team = make_team(session, manager=manager)
    nominee = make_user(session, team=team)
    nominator = make_user(session, team=team)
    other_manager = make_user(session, role="manager")
    make_team(session, manager=other_manager)
    stranger = make_user(session)
    return Org(admin, manager, team, nominee, nominator, other_manager, stranger)


def make_rated_nomination(
    session: Session,
    cycle: Cycle,
    nominee: User,
    approvals: list[dict[Criterion, int]],
    *,
    status: str = "approved",
    decision: str = "approve",
) -> Nomination:
    """A nomination of `nominee` by a fresh nominator, with one approval per
    entry of `approvals` ({criterion: value}), each by a fresh admin."""
    nomination = make_nomination(session, cycle, make_user(session), nominee, status=status)
    for ratings in approvals:
        make_approval(session, nomination, make_user(session, role="admin"), decision=decision, ratings=ratings)
    return nomination
