"""Teams: create, read, list and update.

Rules (DOMAIN.md "Users and teams"): a team's `name` is 1-200 characters
(stored trimmed) and unique case-insensitively (`duplicate_name`, also when a
concurrent request wins the race: the unique index on lower(name) decides);
`manager_id`, when set, is a user whose role is `manager` or `admin`.

Decisions where the spec is silent:
- the manager must also be active (an inactive user cannot approve, so making
  them a manager would leave the team without one); an unknown, inactive or
  wrongly-roled manager is `validation_error` on `manager_id`;
- lists are ordered by name case-insensitively (then id), the order people
  read names in; names are unique case-insensitively, so this is total.
"""

import uuid

from sqlalchemy import String, func, select
from sqlalchemy.orm import Session

from plaudit import paging
from plaudit.errors import DuplicateName, NotFound
from plaudit.models import Team, User
from plaudit.services import audit
from plaudit.services.lookup import get_or_not_found, locked_for_update
from plaudit.services.users import MANAGER_ROLES, UNSET, Unset, require_admin
from plaudit.services.validation import checked_field, field_error, normalize_name, unique_guard

TEAM_FIELDS = ("name", "manager_id")
UNIQUE_NAME = "uq_teams_lower_name"


def get_team(session: Session, actor: User | None, team_id: uuid.UUID) -> Team:
    """Any user may read any team; unknown ids are `not_found`."""
    return get_or_not_found(session, Team, team_id, "team")


def list_teams(
    session: Session,
    actor: User | None,
    *,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
) -> paging.Page[Team]:
    """All teams, by name (case-insensitive) then id, keyset-paged."""
    return paging.keyset_page(
        session, select(Team), [paging.asc(func.lower(Team.name, type_=String)), paging.asc(Team.id)],
        limit=limit, cursor=cursor,
    )


def create_team(
    session: Session,
    actor: User | None,
    *,
    name: str,
    manager_id: uuid.UUID | None = None,
) -> Team:
    """Create a team (admins and the command line). Writes `team.create`."""
    require_admin(actor)
    name = checked_field("name", normalize_name, name)
    _check_name_free(session, name, None)
    _check_manager(session, manager_id)
    team = Team(name=name, manager_id=manager_id)
    audit.add_and_record(
        session, actor, team, action="team.create", entity_type="team", fields=TEAM_FIELDS,
        guard=unique_guard(session, UNIQUE_NAME, _taken(name)),
    )
    return team


def update_team(
    session: Session,
    actor: User | None,
    team_id: uuid.UUID,
    *,
    name: str | Unset = UNSET,
    manager_id: uuid.UUID | None | Unset = UNSET,
) -> Team:
    """Rename a team and/or set its manager (None removes the manager).

    Admins only (`forbidden` first), then `not_found`, then the name and
    manager rules. Writes `team.update` with only the changed fields; a call
    that changes nothing writes nothing.
    """
    require_admin(actor)
    team = locked_for_update(session, Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found")
    changes: dict = {}
    if name is not UNSET:
        changes["name"] = checked_field("name", normalize_name, name)
    if manager_id is not UNSET:
        changes["manager_id"] = manager_id
    changes = {k: v for k, v in changes.items() if getattr(team, k) != v}
    if not changes:
        return team
    if "name" in changes:
        _check_name_free(session, changes["name"], team.id)
    if "manager_id" in changes:
        _check_manager(session, changes["manager_id"])
    audit.change_and_record(
        session, actor, team, changes, action="team.update", entity_type="team", fields=TEAM_FIELDS,
        guard=unique_guard(session, UNIQUE_NAME, _taken(changes.get("name", team.name))),
    )
    return team


def _check_name_free(session: Session, name: str, own_id: uuid.UUID | None) -> None:
    stmt = select(Team.id).where(func.lower(Team.name) == name.lower())
    if own_id is not None:
        stmt = stmt.where(Team.id != own_id)
    if session.scalar(stmt) is not None:
        raise _taken(name)


def _taken(name: str) -> DuplicateName:
    return DuplicateName(f"a team named {name!r} already exists")


def _check_manager(session: Session, manager_id: uuid.UUID | None) -> None:
    """The manager exists, is active and is a manager or admin. Locks the user
    FOR SHARE until commit, so a concurrent demotion (which locks the user for
    update) waits and then sees this team as managed by them."""
    if manager_id is None:
        return
    manager = session.execute(
        select(User).where(User.id == manager_id).with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if manager is None:
        raise field_error("manager_id", f"no user {manager_id}")
    if manager.role not in MANAGER_ROLES:
        raise field_error("manager_id", f"the manager must have role manager or admin, not {manager.role}")
    if not manager.is_active:
        raise field_error("manager_id", "the manager must be an active user")
