"""Users: create, read, list and update people.

Rules (DOMAIN.md "Users and teams"):
- emails are unique and stored lower-case, so uniqueness is case-insensitive;
- `display_name` is 1-200 characters after trimming (it is stored trimmed);
- users are never deleted, only deactivated (`is_active = false`); an inactive
  user cannot authenticate, and their tokens work again if reactivated.

Decisions where the spec is silent:
- `GET /users/{id}` shows inactive users to every user (old nominations and
  results still name them); only *lists* hide them unless an admin asks for
  `include_inactive`. A non-admin asking for `include_inactive=true` is
  `forbidden`.
- An unknown `team_id` in a body is `validation_error` on that field (not
  `not_found`: the URL's resource exists, the body is what is wrong).
- The last active admin cannot be demoted or deactivated
  (`validation_error`): otherwise nobody could administer over HTTP.
- A user who is some team's `manager_id` cannot lose the manager/admin role
  (`validation_error` on `role`): a team's manager must be a manager or admin;
  assign the team another manager first. Deactivating them is allowed.
"""

import re
import uuid
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from plaudit import paging
from plaudit.clock import system_clock
from plaudit.errors import DuplicateName, Forbidden, NotFound
from plaudit.models import Team, User
from plaudit.models.enums import Role
from plaudit.services import audit, tokens
from plaudit.services.lookup import get_or_not_found, locked_for_update
from plaudit.services.validation import checked_field, field_error, normalize_name, unique_guard

USER_FIELDS = ("email", "display_name", "role", "team_id", "is_active")
MANAGER_ROLES = frozenset({Role.manager.value, Role.admin.value})
EMAIL_MAX = 254  # RFC 5321: a path holds at most 256 octets, "<" and ">" included
EMAIL_LOCAL_MAX = 64  # RFC 5321: the part before the @
_SPACE_OR_NUL = re.compile(r"[\s\x00]")  # \s is str.isspace(); a regex, because imports check 50,000 emails
# pg_advisory_xact_lock key taken by updates that may change who is an active admin.
ADMIN_SET_LOCK = 0x706C_6164_6D69_6E  # "pladmin"


class _Unset(Enum):
    """Marks an update argument that was not given (distinct from None, which
    clears a nullable field)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


def require_admin(actor: User | None) -> None:
    """Admins, and the command line (actor None), may administer."""
    if actor is not None and actor.role != Role.admin:
        raise Forbidden("only admins may do this")


def normalize_email(value: str) -> str:
    """The stored form of an email (trimmed, lower-case), or ValueError.

    Deliberately modest: one `@` with something on both sides, no whitespace,
    RFC 5321's lengths (at most 64 characters before the @, 254 in all). Deliverability is not this service's business.
    """
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise ValueError("must be an email address like name@example.org")
    if _SPACE_OR_NUL.search(email):
        raise ValueError("must not contain whitespace or NUL characters")
    if len(email) > EMAIL_MAX:
        raise ValueError(f"must be at most {EMAIL_MAX} characters")
    if len(local) > EMAIL_LOCAL_MAX:
        raise ValueError(f"the part before the @ must be at most {EMAIL_LOCAL_MAX} characters")
    return email


def get_user(session: Session, actor: User | None, user_id: uuid.UUID) -> User:
    """Any user may read any user, active or not; unknown ids are `not_found`."""
    return get_or_not_found(session, User, user_id, "user")


def list_users(
    session: Session,
    actor: User | None,
    *,
    q: str | None = None,
    team_id: uuid.UUID | None = None,
    include_inactive: bool = False,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
) -> paging.Page[User]:
    """Users ordered by display_name then id, keyset-paged.

    `q` matches a substring of display_name or email, case-insensitively
    (`%` and `_` are literal). `include_inactive` is for admins only
    (`forbidden` otherwise); without it only active users are listed.
    """
    if include_inactive:
        require_admin(actor)
    stmt = select(User)
    if not include_inactive:
        stmt = stmt.where(User.is_active.is_(True))
    if team_id is not None:
        stmt = stmt.where(User.team_id == team_id)
    if q is not None and q.strip():
        stmt = stmt.where(_matches(q.strip()))
    return paging.keyset_page(
        session, stmt, [paging.asc(User.display_name), paging.asc(User.id)], limit=limit, cursor=cursor
    )


def _matches(q: str) -> ColumnElement[bool]:
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(User.display_name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\"))


def _taken(email: str) -> DuplicateName:
    return DuplicateName(f"a user with email {email} already exists")


def _team_for(session: Session, team_id: uuid.UUID | None) -> uuid.UUID | None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise field_error("team_id", f"no team {team_id}")
    return team_id


def create_user(
    session: Session,
    actor: User | None,
    *,
    email: str,
    display_name: str,
    role: Role | str,
    team_id: uuid.UUID | None = None,
) -> User:
    """Create an active user (admins and the command line).

    Email stored lower-case; a taken email (in any case) is `duplicate_name`,
    also when a concurrent request wins the race; an unknown team is
    `validation_error` on `team_id`. Writes `user.create`.
    """
    require_admin(actor)
    email = checked_field("email", normalize_email, email)
    display_name = checked_field("display_name", normalize_name, display_name)
    role = checked_field("role", Role, role)
    if session.scalar(select(func.count()).where(User.email == email)):
        raise _taken(email)
    _team_for(session, team_id)
    user = User(email=email, display_name=display_name, role=role.value, team_id=team_id, is_active=True)
    audit.add_and_record(
        session, actor, user, action="user.create", entity_type="user", fields=USER_FIELDS,
        guard=unique_guard(session, "uq_users_email", _taken(email)),
    )
    return user


def update_user(
    session: Session,
    actor: User | None,
    user_id: uuid.UUID,
    *,
    display_name: str | Unset = UNSET,
    role: Role | str | Unset = UNSET,
    team_id: uuid.UUID | None | Unset = UNSET,
    is_active: bool | Unset = UNSET,
    now: datetime | None = None,
) -> User:
    """Change any of display_name, role, team_id (None clears it), is_active.
    Deactivating revokes every live token of the user at `now` (default: the
    system clock), for good: reactivating brings none back (API.md).

    Admins only (`forbidden` first), then `not_found`. Refuses to demote or
    deactivate the last active admin, and to take the manager/admin role from
    a team's manager (`validation_error`). Writes `user.update` with only the
    changed fields; a call that changes nothing writes nothing.
    """
    require_admin(actor)
    if role is not UNSET or is_active is not UNSET:
        # Changes that may remove an admin run one at a time, so two admins
        # demoting each other at once cannot leave nobody (see _keep_an_admin).
        session.execute(select(func.pg_advisory_xact_lock(ADMIN_SET_LOCK)))
    # FOR NO KEY UPDATE: serializes with team updates that make this user a
    # manager (they lock the user FOR SHARE), so the role rule holds under races.
    user = locked_for_update(session, User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    changes: dict[str, Any] = {}
    if display_name is not UNSET:
        changes["display_name"] = checked_field("display_name", normalize_name, display_name)
    if role is not UNSET:
        changes["role"] = checked_field("role", Role, role).value
    if team_id is not UNSET:
        changes["team_id"] = _team_for(session, team_id)
    if is_active is not UNSET:
        changes["is_active"] = bool(is_active)
    changes = {k: v for k, v in changes.items() if getattr(user, k) != v}
    if not changes:
        return user

    new_role = changes.get("role", user.role)
    if user.role in MANAGER_ROLES and new_role not in MANAGER_ROLES:
        managed = session.scalars(select(Team.name).where(Team.manager_id == user.id).order_by(Team.name)).all()
        if managed:
            raise field_error("role", f"the user manages {', '.join(managed)}; assign another manager first")
    if user.role == Role.admin and user.is_active and (
        new_role != Role.admin or not changes.get("is_active", True)
    ):
        _keep_an_admin(session, user, "role" if "role" in changes else "is_active")

    audit.change_and_record(session, actor, user, changes, action="user.update", entity_type="user", fields=USER_FIELDS)
    if changes.get("is_active") is False:
        tokens.revoke_tokens_of(session, actor, [user.id], now=now or system_clock.now())
    return user


def _keep_an_admin(session: Session, user: User, field: str) -> None:
    """Refuse to remove the last active admin. The caller holds the
    ADMIN_SET_LOCK, so the count cannot change under us."""
    others = session.scalar(
        select(func.count()).where(User.role == Role.admin, User.is_active.is_(True), User.id != user.id)
    )
    if not others:
        raise field_error(field, "this is the last active admin; make another user admin first")

