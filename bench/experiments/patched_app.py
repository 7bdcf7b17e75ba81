"""Experiment app (for BENCH_PLAUDIT_APP=bench.experiments.patched_app:create_app): Plaudit's own app with candidate fixes applied from outside.

EXP_LEAN_SERVICE=1: the 2-statement create_nomination (bench/experiments/lean_service.py).
EXP_ASYNC_CLOCK=1: get_clock as `async def` (no threadpool hop), via dependency_overrides
(which itself costs FastAPI a get_dependant() per request, so this understates the gain).
EXP_POOL=N: the engine with pool_size=N, max_overflow=10.
EXP_NO_PREPING=1: the engine without pool_pre_ping.
EXP_PREBUILT_AUTH=1: authentication with its ORM statement built once (same behaviour).
EXP_CORE_AUTH=1: authentication with a prebuilt Core SELECT returning a row, not an ORM User
(only valid together with EXP_LEAN_SERVICE, which needs just actor.id and actor.role).
"""
import os

from plaudit.api import deps
from plaudit.api.app import create_app as _create_app
from plaudit.services import nominations


def _core_authenticate():
    """authenticate() with a prebuilt Core SELECT on the session's connection,
    returning the user's row (id, role, ...) instead of an ORM User."""
    from sqlalchemy import select

    from plaudit.errors import Unauthenticated
    from plaudit.models import ApiToken, User
    from plaudit.services.auth import hash_token

    users = User.__table__
    stmt = (
        select(users)
        .join(ApiToken.__table__, ApiToken.__table__.c.user_id == users.c.id)
        .where(
            ApiToken.__table__.c.token_hash == __import__("sqlalchemy").bindparam("digest"),
            ApiToken.__table__.c.revoked_at.is_(None),
            (ApiToken.__table__.c.expires_at.is_(None)) | (ApiToken.__table__.c.expires_at > __import__("sqlalchemy").bindparam("now")),
            users.c.is_active.is_(True),
        )
    )

    def authenticate(session, secret, *, now):
        if not secret:
            raise Unauthenticated("a bearer token is required")
        row = session.connection().execute(stmt, {"digest": hash_token(secret), "now": now}).first()
        if row is None:
            raise Unauthenticated("the token is unknown, expired or revoked, or its user is inactive")
        return row

    return authenticate


def _prebuilt_authenticate():
    """authenticate() unchanged in behaviour (returns the ORM User), but with its
    statement built once at import, parameters bound per call."""
    from sqlalchemy import bindparam, select

    from plaudit.errors import Unauthenticated
    from plaudit.models import ApiToken, User
    from plaudit.services.auth import hash_token

    stmt = (
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == bindparam("digest"),
            ApiToken.revoked_at.is_(None),
            (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > bindparam("now")),
            User.is_active.is_(True),
        )
    )

    def authenticate(session, secret, *, now):
        if not secret:
            raise Unauthenticated("a bearer token is required")
        user = session.execute(stmt, {"digest": hash_token(secret), "now": now}).scalar_one_or_none()
        if user is None:
            raise Unauthenticated("the token is unknown, expired or revoked, or its user is inactive")
        return user

    return authenticate


def create_app():
    if os.environ.get("EXP_PREBUILT_AUTH"):
        deps.authenticate = _prebuilt_authenticate()
    if os.environ.get("EXP_CORE_AUTH"):
        deps.authenticate = _core_authenticate()
    if os.environ.get("EXP_LEAN_SERVICE"):
        from bench.experiments.lean_service import create_nomination_lean
        nominations.create_nomination = create_nomination_lean
    engine = None
    if os.environ.get("EXP_POOL") or os.environ.get("EXP_NO_PREPING"):
        from plaudit.db.session import make_engine
        options = {"pool_pre_ping": False} if os.environ.get("EXP_NO_PREPING") else {}
        if os.environ.get("EXP_POOL"):
            options.update(pool_size=int(os.environ["EXP_POOL"]), max_overflow=10)
        engine = make_engine(**options)
    app = _create_app(engine=engine)
    if os.environ.get("EXP_ASYNC_CLOCK"):
        async def get_clock_async(request: deps.Request):
            return request.app.state.clock
        app.dependency_overrides[deps.get_clock] = get_clock_async
    return app
