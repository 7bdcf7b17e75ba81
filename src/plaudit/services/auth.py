"""Personal access tokens: random secrets, kept only as SHA-256 digests."""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from plaudit.db.driver import DriverStatement, adopt, driver_of
from plaudit.errors import Unauthenticated
from plaudit.models import ApiToken, User

TOKEN_PREFIX = "plt_"
TOKEN_BYTES = 32  # 256 bits of entropy


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


_USER_COLUMNS = tuple(User.__table__.c)
_USER_FIELDS = tuple(c.key for c in _USER_COLUMNS)

# Every authenticated request runs it: compiled once, run on the driver
# (`plaudit.db.driver`), its row adopted as the session's User.
_LIVE_TOKEN_OWNER = DriverStatement.of(
    select(*_USER_COLUMNS)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == bindparam("digest"),
        ApiToken.revoked_at.is_(None),
        ApiToken.expires_at.is_(None) | (ApiToken.expires_at > bindparam("now")),
        User.is_active.is_(True),
    )
)


def authenticate(session: Session, secret: str | None, *, now: datetime) -> User:
    """The active user owning a live token, else `unauthenticated`.

    One indexed lookup by digest; the same message for every failure, so a
    caller learns nothing about which check refused them.
    """
    if not secret:
        raise Unauthenticated("a bearer token is required")
    row = _LIVE_TOKEN_OWNER.execute(driver_of(session), {"digest": hash_token(secret), "now": now}).fetchone()
    if row is None:
        raise Unauthenticated("the token is unknown, expired or revoked, or its user is inactive")
    return adopt(session, User, dict(zip(_USER_FIELDS, row, strict=True)))
