"""HTTP routes: users, teams and tokens (thin: parse, call a service, return a schema)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from plaudit.api.deps import ClockDep, CurrentUser, PageDep, SessionDep
from plaudit.api.precedence import AdminOrTheUser, AdminUser
from plaudit.api.routing import PlauditRoute
from plaudit.schemas import people as schemas
from plaudit.schemas.common import Page, QueryBool, page_of
from plaudit.services import teams, tokens, users

router = APIRouter(route_class=PlauditRoute)


# /users/me is declared before /users/{user_id} so "me" is never parsed as an id.
@router.get("/users/me", tags=["users"])
def read_me(actor: CurrentUser) -> schemas.User:
    """The authenticated user."""
    return schemas.User.model_validate(actor)


@router.get("/users", tags=["users"])
def list_users(
    session: SessionDep,
    actor: CurrentUser,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Substring of display name or email, any case.")] = None,
    team_id: uuid.UUID | None = None,
    include_inactive: Annotated[QueryBool, Query(description="Admins only.")] = False,
) -> Page[schemas.User]:
    """Active users (all users with `include_inactive`), by display name."""
    found = users.list_users(
        session, actor, q=q, team_id=team_id, include_inactive=include_inactive,
        limit=page.limit, cursor=page.cursor,
    )
    return page_of(found, schemas.User)


@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(body: schemas.UserCreate, session: SessionDep, actor: AdminUser) -> schemas.User:
    """Create a user (admins)."""
    user = users.create_user(session, actor, **body.model_dump())
    return schemas.User.model_validate(user)


@router.get("/users/{user_id}", tags=["users"])
def read_user(user_id: uuid.UUID, session: SessionDep, actor: CurrentUser) -> schemas.User:
    return schemas.User.model_validate(users.get_user(session, actor, user_id))


@router.patch("/users/{user_id}", tags=["users"])
def update_user(
    user_id: uuid.UUID, body: schemas.UserUpdate, session: SessionDep, actor: AdminUser, clock: ClockDep
) -> schemas.User:
    """Change any of display_name, role, team_id, is_active (admins). Deactivating revokes the user's tokens."""
    user = users.update_user(session, actor, user_id, **body.model_dump(exclude_unset=True), now=clock.now())
    return schemas.User.model_validate(user)


@router.post("/users/{user_id}/tokens", status_code=status.HTTP_201_CREATED, tags=["tokens"])
def create_token(
    user_id: uuid.UUID, body: schemas.TokenCreate, session: SessionDep, actor: AdminOrTheUser, clock: ClockDep
) -> schemas.TokenCreated:
    """Issue a personal access token (admins, or the user). The secret is in `token`, shown only here."""
    user = users.get_user(session, actor, user_id)
    issued = tokens.create_token(session, actor, user, name=body.name, expires_at=body.expires_at, now=clock.now())
    shown = schemas.Token.model_validate(issued.token).model_dump()
    return schemas.TokenCreated(**shown, token=issued.secret)


@router.get("/users/{user_id}/tokens", tags=["tokens"])
def list_tokens(user_id: uuid.UUID, session: SessionDep, actor: AdminOrTheUser, page: PageDep) -> Page[schemas.Token]:
    """A user's tokens, newest first, without secrets (admins, or the user)."""
    user = users.get_user(session, actor, user_id)
    found = tokens.list_tokens(session, actor, user, limit=page.limit, cursor=page.cursor)
    return page_of(found, schemas.Token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["tokens"])
def revoke_token(token_id: uuid.UUID, session: SessionDep, actor: CurrentUser, clock: ClockDep) -> Response:
    """Revoke a token (admins, or the token's user). Repeating it is a 204 too."""
    tokens.revoke_token(session, actor, token_id, now=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/teams", tags=["teams"])
def list_teams(session: SessionDep, actor: CurrentUser, page: PageDep) -> Page[schemas.Team]:
    """All teams, by name."""
    return page_of(teams.list_teams(session, actor, limit=page.limit, cursor=page.cursor), schemas.Team)


@router.post("/teams", status_code=status.HTTP_201_CREATED, tags=["teams"])
def create_team(body: schemas.TeamCreate, session: SessionDep, actor: AdminUser) -> schemas.Team:
    """Create a team (admins)."""
    return schemas.Team.model_validate(teams.create_team(session, actor, **body.model_dump()))


@router.get("/teams/{team_id}", tags=["teams"])
def read_team(team_id: uuid.UUID, session: SessionDep, actor: CurrentUser) -> schemas.Team:
    return schemas.Team.model_validate(teams.get_team(session, actor, team_id))


@router.patch("/teams/{team_id}", tags=["teams"])
def update_team(
    team_id: uuid.UUID, body: schemas.TeamUpdate, session: SessionDep, actor: AdminUser
) -> schemas.Team:
    """Rename a team and/or set its manager (admins)."""
    team = teams.update_team(session, actor, team_id, **body.model_dump(exclude_unset=True))
    return schemas.Team.model_validate(team)
