"""Signing in to the web app: the throttle, browser sessions, signing out.

Rules (WEB.md "Signing in"):
- one answer for every failure, "Email or password is wrong";
- after 5 failures for one email within 15 minutes, attempts for it are
  refused for 15 minutes from the 5th, in every server process: failures are
  rows in PostgreSQL, and attempts for one email run one at a time (an
  advisory lock), so two processes cannot both let a 6th attempt through;
- a session is a random 256-bit secret in a cookie, stored only as its
  SHA-256; it ends after 8 hours unused or 7 days after sign-in, on sign-out,
  on a password change, and on deactivation (a trigger on `users`).

Decisions where the spec is silent:
- a successful sign-in forgets the email's earlier failures;
- attempts refused by the throttle are not counted (they do not extend it);
- the 5th failure writes `user.sign_in_locked` when the email is a user's
  (audited with no actor: nobody signed in);
- `last_seen_at` is written at most once a minute, so pages stay read-only.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from plaudit.db.driver import DriverStatement, adopt, driver_of
from plaudit.models import Credential, SignInFailure, User, WebSession
from plaudit.services import audit
from plaudit.services.passwords import digest, new_secret, verify

IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(days=7)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Attempt:
    """A sign-in's outcome: a session secret, or why not."""

    secret: str | None = None
    user: User | None = None
    retry_at: datetime | None = None  # set when the throttle refused the attempt


def locked_until(session: Session, email: str, *, now: datetime) -> datetime | None:
    """When attempts for `email` may resume, if they are refused now."""
    recent = session.scalars(
        select(SignInFailure.occurred_at)
        .where(SignInFailure.email == email, SignInFailure.occurred_at > now - FAILURE_WINDOW - LOCKOUT)
        .order_by(SignInFailure.occurred_at.desc())
        .limit(MAX_FAILURES)
    ).all()
    if len(recent) < MAX_FAILURES or recent[0] - recent[-1] >= FAILURE_WINDOW:
        return None
    until = recent[0] + LOCKOUT
    return until if now < until else None


def sign_in(session: Session, email: str, password: str, *, now: datetime) -> Attempt:
    """Check a password and start a session, or record the failure.

    Never raises for wrong credentials (the failure row must be committed):
    the outcome says what happened. Writes a `web_sessions` row on success,
    a `sign_in_failures` row on failure.
    """
    email = email.strip().lower()
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"sign-in:{email}", 0))))
    retry_at = locked_until(session, email, now=now)
    if retry_at is not None:
        return Attempt(retry_at=retry_at)
    row = session.execute(
        select(User, Credential.password_hash)
        .outerjoin(Credential, Credential.user_id == User.id)
        .where(User.email == email, User.is_active.is_(True))
    ).first()
    user, password_hash = (row[0], row[1]) if row else (None, None)
    if not verify(password_hash, password):
        session.add(SignInFailure(email=email, occurred_at=now))
        session.flush()
        retry_at = locked_until(session, email, now=now)
        if retry_at is not None and user is not None:
            audit.record(session, actor_id=None, action="user.sign_in_locked", entity_type="user",
                         entity_id=user.id, extra={"failures": MAX_FAILURES, "until": retry_at})
        return Attempt()
    session.execute(delete(SignInFailure).where(SignInFailure.email == email))
    session.execute(
        delete(WebSession).where(
            WebSession.user_id == user.id,
            (WebSession.last_seen_at <= now - IDLE_TIMEOUT) | (WebSession.started_at <= now - ABSOLUTE_TIMEOUT),
        )
    )
    return Attempt(secret=start_session(session, user, now=now), user=user)


def start_session(session: Session, user: User, *, now: datetime) -> str:
    secret = new_secret()
    session.add(WebSession(user_id=user.id, token_hash=digest(secret), started_at=now, last_seen_at=now))
    return secret


_USER_COLUMNS = tuple(User.__table__.c)
_USER_FIELDS = tuple(c.key for c in _USER_COLUMNS)

# Every page runs it first: one indexed lookup of the live session's active
# user, compiled once and run on the driver (as token authentication is).
_SESSION_USER = DriverStatement.of(
    select(WebSession.id, WebSession.last_seen_at, *_USER_COLUMNS)
    .join(User, User.id == WebSession.user_id)
    .where(
        WebSession.token_hash == bindparam("digest"),
        User.is_active.is_(True),
        WebSession.last_seen_at > bindparam("idle_since"),
        WebSession.started_at > bindparam("started_since"),
    )
)


def session_user(session: Session, secret: str | None, *, now: datetime) -> User | None:
    """The active user of a live session, or None. Moves the session's idle
    deadline when it was last moved over a minute ago (so most pages write
    nothing)."""
    if not secret:
        return None
    row = _SESSION_USER.execute(
        driver_of(session),
        {"digest": digest(secret), "idle_since": now - IDLE_TIMEOUT, "started_since": now - ABSOLUTE_TIMEOUT},
    ).fetchone()
    if row is None:
        return None
    session_id, last_seen_at, *user = row
    if last_seen_at < now - TOUCH_EVERY:
        session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))
    return adopt(session, User, dict(zip(_USER_FIELDS, user, strict=True)))


def sign_out(session: Session, secret: str) -> None:
    """End one session (nothing to do if it already ended)."""
    session.execute(delete(WebSession).where(WebSession.token_hash == digest(secret)))
