"""API tokens: issue (more to come with the people area)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from plaudit.errors import NotFound, ValidationFailed
from plaudit.models import ApiToken, User
from plaudit.models.enums import Role
from plaudit.services import audit
from plaudit.services.auth import hash_token, new_secret

TOKEN_FIELDS = ("user_id", "name", "expires_at", "revoked_at")


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    session: Session,
    actor: User | None,
    user: User,
    *,
    name: str,
    expires_at: datetime | None = None,
    now: datetime,
) -> IssuedToken:
    """Issue a token for `user` (admins, the user themself, or the CLI).

    Writes `token.create`; the payload never holds the secret or its hash.
    """
    if actor is not None and actor.role != Role.admin and actor.id != user.id:
        raise NotFound(f"user {user.id} not found")
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(
            "expires_at must be in the future",
            errors=[{"loc": ["body", "expires_at"], "msg": "must be in the future"}],
        )
    secret = new_secret()
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret), expires_at=expires_at)
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="token.create",
        entity_type="token",
        entity_id=token.id,
        after=audit.snapshot(token, TOKEN_FIELDS),
    )
    return IssuedToken(token=token, secret=secret)
