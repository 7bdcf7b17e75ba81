"""Users: creation (more to come with the people area)."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.errors import DuplicateName, Forbidden, NotFound
from plaudit.models import Team, User
from plaudit.models.enums import Role
from plaudit.services import audit

USER_FIELDS = ("email", "display_name", "role", "team_id", "is_active")


def require_admin(actor: User | None) -> None:
    """Admins, and the command line (actor None), may administer."""
    if actor is not None and actor.role != Role.admin:
        raise Forbidden("only admins may do this")


def create_user(
    session: Session,
    actor: User | None,
    *,
    email: str,
    display_name: str,
    role: Role | str,
    team_id: uuid.UUID | None = None,
) -> User:
    """Create an active user (email stored lower-case). Writes `user.create`."""
    require_admin(actor)
    email = email.strip().lower()
    if session.scalar(select(func.count()).where(User.email == email)):
        raise DuplicateName(f"a user with email {email} already exists")
    if team_id is not None and session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found")
    user = User(email=email, display_name=display_name, role=Role(role).value, team_id=team_id, is_active=True)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        after=audit.snapshot(user, USER_FIELDS),
    )
    return user
