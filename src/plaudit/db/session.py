"""Engine and sessions from DATABASE_URL (or the embedded server).

Services never commit; the edge does: the API's session dependency, or
`transaction()` for the CLI and scripts.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from plaudit.config import get_settings


def resolve_database_url() -> str:
    """DATABASE_URL if set, else the embedded server's URL (started on demand)."""
    settings = get_settings()
    if settings.database_url:
        return normalize_url(settings.database_url)
    from plaudit.db.embedded import embedded_url

    return embedded_url(settings.data_dir)


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too; always drive them with psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Sized for one server process: uvicorn runs sync endpoints on a pool of 40
# threads, each may hold a connection, and a connection opened per request
# under load costs more than the request itself. Connections are not pinged on checkout (a round trip per
# request); a dropped connection is detected on use, which invalidates the
# whole pool so the next request reconnects.
POOL_SIZE = 40
MAX_OVERFLOW = 10


# The server's engine: a request that waits longer than this for a lock, or
# runs a statement longer than that, is refused (503 database_unavailable)
# instead of holding a thread and a connection that other requests need.
# Set as connection options, so they cost no round trip per request; the
# command line and migrations connect without them.
LOCK_TIMEOUT = "1s"
STATEMENT_TIMEOUT = "30s"
CONNECT_TIMEOUT = 5  # seconds; an unreachable server is a 503 soon
NEVER_AUTOMATICALLY = sys.maxsize  # psycopg's prepare_threshold: only explicit `prepare=True`


def make_engine(url: str | None = None, *, serving: bool = False, **kwargs) -> Engine:
    """An engine whose sessions run in UTC, so every timestamp read back is UTC.
    `serving`: the HTTP server's, with the lock and statement timeouts.

    psycopg's automatic preparation is off: PostgreSQL plans each statement
    for its parameters. A prepared statement switches to a generic plan after
    a few runs, and for a list whose keyset condition spans tables (the
    approver's queue, page 100) that plan was 2-5x slower. The few hot
    statements that gain from preparing say so themselves (`plaudit.db.driver`):
    hence a threshold never reached rather than None, which would refuse
    their `prepare=True` too (create-nomination then cost 3x the server CPU).
    """
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    options = "-c timezone=UTC"
    if serving:
        options += f" -c lock_timeout={LOCK_TIMEOUT} -c statement_timeout={STATEMENT_TIMEOUT}"
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("options", options)
    connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT)
    connect_args.setdefault("prepare_threshold", NEVER_AUTOMATICALLY)
    return create_engine(normalize_url(url) if url else resolve_database_url(), **kwargs)


def wait_for_locks(session: Session) -> None:
    """For the rest of `session`'s transaction, wait for locks as long as a
    statement may run (its `statement_timeout`, 30 s on the server's engine)
    instead of the server's LOCK_TIMEOUT (1 s).

    For the operations documented to queue rather than be refused: finalize
    ("concurrent calls queue on the cycle's row lock", DOMAIN.md), whose
    second caller waits for the first one's whole ranking, which on a big
    cycle takes longer than a second. Everything else keeps the 1 s, so a
    transaction stuck on a row still refuses the ordinary requests that need
    it. Local to the transaction (`set_config(..., true)` is `SET LOCAL`):
    the connection goes back to the pool with the server's setting, and a
    rolled-back savepoint undoes it. One round trip. Where no statement
    timeout is set (the command line) locks are waited for as long as they
    are held, as there already.
    """
    session.execute(text("SELECT set_config('lock_timeout', current_setting('statement_timeout'), true)"))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@lru_cache
def default_engine() -> Engine:
    return make_engine()


@contextmanager
def transaction(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    factory = factory or make_sessionmaker(default_engine())
    with factory() as session:
        with session.begin():
            yield session
