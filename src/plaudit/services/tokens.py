"""API tokens: issue and revoke personal access tokens.

Secrets are shown once at creation and stored only as their SHA-256 digest
(`plaudit.services.auth`); neither the secret nor the digest ever reaches an
audit payload.

Decisions where the spec is silent:
- issuing a token for another user is `forbidden` for non-admins (the user
  is visible to everyone, so hiding it behind `not_found` would be a lie);
- a token of someone else is invisible to non-admins: revoking it is
  `not_found`;
- a token may be issued for an inactive user (by an admin or the command
  line); it authenticates only once the user is active again;
- token names are 1-200 characters, trimmed.

A token created without `expires_at` expires after DEFAULT_LIFETIME (API.md);
only the command line makes one that never expires (`--expires never`).
Deactivating a user revokes their tokens for good (`revoke_tokens_of`).
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from plaudit import paging
from plaudit.errors import Forbidden, NotFound
from plaudit.models import ApiToken, User
from plaudit.models.enums import Role
from plaudit.services import audit
from plaudit.services.auth import hash_token, new_secret
from plaudit.services.lookup import locked_for_update
from plaudit.services.validation import checked_field, field_error, normalize_name

TOKEN_FIELDS = ("user_id", "name", "expires_at", "revoked_at")
DEFAULT_LIFETIME = timedelta(days=90)


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
    expires_at: datetime | Literal["never"] | None = None,
    now: datetime,
) -> IssuedToken:
    """Issue a token for `user` (admins, the user themself, or the CLI).

    Another non-admin user is `forbidden`; `expires_at` must be in the
    future (`validation_error`); without it (or null) the token expires
    after DEFAULT_LIFETIME, and `"never"` (the command line's) never. Writes `token.create`; the payload never
    holds the secret or its hash.
    """
    if actor is not None and actor.role != Role.admin and actor.id != user.id:
        raise Forbidden("only admins may issue tokens for other users")
    name = checked_field("name", normalize_name, name)
    if expires_at is None:
        expires_at = now + DEFAULT_LIFETIME
    elif expires_at == "never":
        expires_at = None
    else:
        if expires_at.tzinfo is None:
            raise field_error("expires_at", "must have a UTC offset")
        if expires_at <= now:
            raise field_error("expires_at", "must be in the future")
        expires_at = expires_at.astimezone(UTC)
    secret = new_secret()
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret), expires_at=expires_at)
    audit.add_and_record(session, actor, token, action="token.create", entity_type="token", fields=TOKEN_FIELDS)
    return IssuedToken(token=token, secret=secret)


def list_tokens(
    session: Session, actor: User | None, user: User, *, limit: int = paging.DEFAULT_LIMIT, cursor: str | None = None
) -> paging.Page[ApiToken]:
    """`user`'s tokens, revoked and expired ones too, newest first (created_at,
    id descending), keyset-paged; secrets are never stored, so never shown.
    Admins, the user themself, or the CLI; another non-admin is `forbidden`
    (as for issuing: the user is visible to everyone)."""
    if actor is not None and actor.role != Role.admin and actor.id != user.id:
        raise Forbidden("only admins may list other users' tokens")
    stmt = select(ApiToken).where(ApiToken.user_id == user.id)
    keys = [paging.desc(ApiToken.created_at), paging.desc(ApiToken.id)]
    return paging.keyset_page(session, stmt, keys, limit=limit, cursor=cursor)


def revoke_token(session: Session, actor: User | None, token_id: uuid.UUID, *, now: datetime) -> ApiToken:
    """Revoke a token (admins, the token's user, or the CLI); others get `not_found`.

    Revoking a revoked token changes nothing and is not an error: no audit
    row. Otherwise sets `revoked_at = now` and writes `token.revoke`. The row
    is locked so concurrent revokes write exactly one audit row.
    """
    token = locked_for_update(session, ApiToken, token_id)
    if token is None or (actor is not None and actor.role != Role.admin and actor.id != token.user_id):
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is not None:
        return token
    audit.change_and_record(
        session, actor, token, {"revoked_at": now}, action="token.revoke", entity_type="token", fields=("revoked_at",)
    )
    return token


_REVOKE_ALL = text("""
WITH revoked AS (
    UPDATE api_tokens SET revoked_at = :now
    WHERE user_id = ANY(CAST(:user_ids AS uuid[])) AND revoked_at IS NULL
    RETURNING id
)
INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, payload, request_id)
SELECT :actor_id, 'token.revoke', 'token', id, CAST(:payload AS jsonb), :request_id FROM revoked
""")


def revoke_tokens_of(session: Session, actor: User | None, user_ids: list[uuid.UUID], *, now: datetime) -> int:
    """Revoke every live token of these users (deactivated: their tokens must
    not work again if they are reactivated) in one statement, with one
    `token.revoke` row each, as `revoke_token` writes it. Returns how many."""
    if not user_ids:
        return 0
    payload = audit.payload_of({"revoked_at": None}, {"revoked_at": now})
    return session.execute(_REVOKE_ALL, {
        "now": now, "user_ids": user_ids, "actor_id": audit.actor_id_of(actor), "payload": json.dumps(payload),
        "request_id": session.info.get("request_id"),
    }).rowcount
