"""Passwords for the web app: Argon2id hashes, one-time set-password links,
and changing a password.

Rules (WEB.md "Signing in"): at least 12 characters; stored only as an
Argon2id hash; a user gets a password through a one-time link (an invitation
is valid 72 hours, a reset 1 hour), which works once; setting or changing a
password ends every web session of the user.

Decisions where the spec is silent:
- a link of an inactive user does not work (`not_found`, like an unknown,
  used or expired one: the page says the same for all four);
- issuing a new link does not revoke older unused ones; each still expires;
- at most 1024 characters, so hashing cannot be used to burn CPU;
- the person changing their own password stays signed in: the edge starts a
  fresh session for their browser after every old one has ended.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from plaudit.errors import NotFound, ValidationFailed
from plaudit.models import Credential, PasswordLink, User, WebSession
from plaudit.services import audit
from plaudit.services.users import require_admin

MIN_LENGTH = 12
MAX_LENGTH = 1024
LINK_VALIDITY = {"invite": timedelta(hours=72), "reset": timedelta(hours=1)}

_hasher = PasswordHasher()  # Argon2id with argon2-cffi's recommended parameters
# Verified against when the email has no password, so a wrong email costs the
# same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; always spends one Argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(new_password: str, repeat_password: str) -> str:
    """The new password, or `validation_error` on the field that is wrong."""
    if len(new_password) < MIN_LENGTH:
        raise _field("new_password", f"must be at least {MIN_LENGTH} characters long")
    if len(new_password) > MAX_LENGTH:
        raise _field("new_password", f"must be at most {MAX_LENGTH} characters long")
    if new_password != repeat_password:
        raise _field("repeat_password", "does not match the new password")
    return new_password


def _field(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {msg}", errors=[{"loc": ["body", field], "msg": msg}])


def issue_link(session: Session, actor: User | None, user: User, *, purpose: str = "invite", now: datetime) -> str:
    """A one-time set-password link's secret for `user` (admins and the command
    line for invitations). Stores only its SHA-256; writes `user.password_link`
    (purpose and expiry, never the secret)."""
    if purpose == "invite":
        require_admin(actor)
    secret = new_secret()
    expires_at = now + LINK_VALIDITY[purpose]
    session.add(PasswordLink(user_id=user.id, token_hash=digest(secret), purpose=purpose, expires_at=expires_at))
    session.flush()
    audit.record(
        session, actor_id=audit.actor_id_of(actor), action="user.password_link", entity_type="user",
        entity_id=user.id, extra={"purpose": purpose, "expires_at": expires_at},
    )
    return secret


def link_user(session: Session, secret: str, *, now: datetime, lock: bool = False) -> tuple[PasswordLink, User]:
    """The live link and its active user, else `not_found` (unknown, used,
    expired, or the user is inactive: one answer for all)."""
    stmt = (
        select(PasswordLink, User)
        .join(User, User.id == PasswordLink.user_id)
        .where(
            PasswordLink.token_hash == digest(secret),
            PasswordLink.used_at.is_(None),
            PasswordLink.expires_at > now,
            User.is_active.is_(True),
        )
    )
    row = session.execute(stmt.with_for_update(of=PasswordLink) if lock else stmt).first()
    if row is None:
        raise NotFound("this link is unknown, used or expired")
    return row[0], row[1]


def set_password_with_link(
    session: Session, secret: str, *, new_password: str, repeat_password: str, now: datetime
) -> User:
    """Use a link once: store the password, mark the link used, end the user's
    sessions. Writes `user.password_set` (actor: the user)."""
    link, user = link_user(session, secret, now=now, lock=True)
    check_new_password(new_password, repeat_password)
    link.used_at = now
    _store(session, user, new_password, now=now)
    audit.record(session, actor_id=user.id, action="user.password_set", entity_type="user", entity_id=user.id,
                 extra={"via": f"{link.purpose} link"})
    return user


def change_password(
    session: Session, actor: User, *, current_password: str, new_password: str, repeat_password: str,
    now: datetime,
) -> None:
    """The signed-in user changes their password: the current one must match
    (`validation_error` on `current_password`). Ends all their sessions;
    writes `user.password_change`."""
    stored = session.scalar(select(Credential.password_hash).where(Credential.user_id == actor.id))
    if not verify(stored, current_password):
        raise _field("current_password", "is not your current password")
    check_new_password(new_password, repeat_password)
    _store(session, actor, new_password, now=now)
    audit.record(session, actor_id=actor.id, action="user.password_change", entity_type="user", entity_id=actor.id,
                 extra={"sessions_ended": True})


def _store(session: Session, user: User, password: str, *, now: datetime) -> None:
    values = {"user_id": user.id, "password_hash": _hasher.hash(password), "changed_at": now}
    session.execute(
        insert(Credential).values(values).on_conflict_do_update(index_elements=["user_id"], set_=values)
    )
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
