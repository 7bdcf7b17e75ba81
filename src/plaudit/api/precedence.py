"""Precedence (API.md): authentication (401), then the visibility of the
objects the path names (404), then the path's *who* column (403), and only
then the body and query (422) and the rules. A caller learns nothing about a
path it may not use.

FastAPI resolves an endpoint's dependencies before it validates the
endpoint's own path, query and body parameters, but it parses a JSON body
before anything else (malformed JSON is a 422 before authentication). So:

- A path's who column is a dependency, `Who`. `AdminUser` decides eagerly,
  from the caller alone: an admin passes at no cost; anyone else gets the
  path's objects checked (404 when one is invisible to them), then 403,
  before the body is looked at. Services keep their own checks (the command
  line calls them too).
- When the request fails validation anyway (malformed JSON, a bad body or
  query: `RequestValidationError` or FastAPI's 400), the route
  (`plaudit.api.routing.PlauditRoute`) runs `precede` before answering 422:
  authentication, the path's objects, the route's `Who`. This costs nothing
  when the request is valid; then the service checks in the same order.

Adding a path: name its ids `cycle_id`, `criterion_id`, `nomination_id`,
`user_id` or `team_id` (see `PATH_OBJECTS`) and take the caller as
`AdminUser` on an admin-only path, or `Annotated[User, Depends(Who(check))]`
for another who column.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from sqlalchemy.orm import Session

from plaudit.api.deps import CurrentUser, SessionDep, bearer_token
from plaudit.errors import Forbidden, NotApprover, NotFound
from plaudit.models import User
from plaudit.models.enums import Role
from plaudit.services import criteria, cycles, nominations, ranking, teams, users
from plaudit.services.auth import authenticate

# A path parameter's name -> the object it names, as the caller may see it
# (`not_found` otherwise). Parameters not listed name nothing to check here.
PATH_OBJECTS: dict[str, Callable[[Session, User, uuid.UUID], Any]] = {
    "cycle_id": cycles.get_cycle,
    "criterion_id": criteria.get_criterion,
    "nomination_id": nominations.get_nomination,
    "user_id": users.get_user,
    "team_id": teams.get_team,
}

Check = Callable[[Session, User, Mapping[str, Any]], None]


def path_objects(session: Session, actor: User, path_params: Mapping[str, str]) -> dict[str, Any] | None:
    """The objects the path names, each visible to `actor`; `not_found` for
    the first that is not. None when an id is malformed: it names nothing,
    and its 422 stands."""
    found: dict[str, Any] = {}
    malformed = False
    for name, raw in path_params.items():
        load = PATH_OBJECTS.get(name)
        if load is None:
            continue
        try:
            entity_id = uuid.UUID(raw)
        except ValueError:
            malformed = True
            continue
        found[name] = load(session, actor, entity_id)
    return None if malformed else found


# --- who columns ---------------------------------------------------------------


def admin(session: Session, actor: User, objects: Mapping[str, Any]) -> None:
    if actor.role != Role.admin:
        raise Forbidden("only admins may do this")


def admin_or_the_user(session: Session, actor: User, objects: Mapping[str, Any]) -> None:
    user = objects.get("user_id")
    if actor.role != Role.admin and (user is None or user.id != actor.id):
        raise Forbidden("only admins and the user themself may do this")


def the_nominator(session: Session, actor: User, objects: Mapping[str, Any]) -> None:
    nomination = objects.get("nomination_id")
    if nomination is None or nomination.nominator_id != actor.id:
        raise Forbidden("only the nominator may do this")


def an_approver(session: Session, actor: User, objects: Mapping[str, Any]) -> None:
    nomination = objects.get("nomination_id")
    if nomination is None or not nominations.is_approver(session, actor, nomination):
        raise NotApprover("you are not an approver of this nomination")


def an_awards_reader(session: Session, actor: User, objects: Mapping[str, Any]) -> None:
    """The user, admins, their team's manager; for anyone else the awards do not exist."""
    user = objects["user_id"]
    if not ranking.may_see_awards(session, actor, user):
        raise NotFound(f"user {user.id} not found")


@dataclass(frozen=True)
class Who:
    """A path's who column, as the dependency that yields the caller.

    `eager`: decide before the body, from the caller alone (the check must
    not need the path's objects when it admits). Otherwise the check runs
    only when validation fails (`precede`); the service enforces it, in
    precedence order, for a valid request.
    """

    check: Check
    eager: bool = False

    async def __call__(self, request: Request, actor: CurrentUser, session: SessionDep) -> User:
        if self.eager:
            try:
                self.check(session, actor, {})
            except Forbidden:
                await run_in_threadpool(path_objects, session, actor, request.path_params)
                raise
        return actor


AdminUser = Annotated[User, Depends(Who(admin, eager=True))]
AdminOrTheUser = Annotated[User, Depends(Who(admin_or_the_user))]
TheNominator = Annotated[User, Depends(Who(the_nominator))]
AnApprover = Annotated[User, Depends(Who(an_approver))]
AnAwardsReader = Annotated[User, Depends(Who(an_awards_reader))]


def route_who(dependant: Dependant) -> Who | None:
    """The `Who` among a route's dependencies, if any."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, Who):
            return sub.call
        found = route_who(sub)
        if found is not None:
            return found
    return None


def precede(request: Request, who: Who | None) -> None:
    """Raise what comes before a validation error: `unauthenticated`, then
    `not_found` for an invisible path object, then the who column's 403.
    Returns when the caller may use the path (its 422 stands). Reads only,
    in a session of its own (the request's was rolled back)."""
    with request.app.state.sessionmaker() as session:
        actor = authenticate(session, bearer_token(request), now=request.app.state.clock.now())
        objects = path_objects(session, actor, request.path_params)
        # An eager check needs no objects; another one, all of them.
        if who is not None and (who.eager or objects is not None):
            who.check(session, actor, objects or {})
