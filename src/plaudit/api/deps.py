"""Dependencies: one session per request (committed on success), the clock,
the authenticated user, and list paging parameters.

Dependencies that do no I/O are `async def`: FastAPI runs a plain `def`
dependency on the thread pool, a hop that costs more than the work itself.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from plaudit.clock import Clock
from plaudit.models import User
from plaudit.paging import DEFAULT_LIMIT, MAX_LIMIT
from plaudit.services.auth import authenticate


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Its work commits when the endpoint returns and
    rolls back when it raises; services themselves never commit.

    Used with scope="function" so the commit happens before the response is
    sent: a client never sees a success that was not durably committed.
    A sync endpoint ends its transaction on its own worker thread
    (`plaudit.api.routing`), so what is usually left here is closing, which
    then does no I/O. A transaction still open (a session only the
    authentication used) is ended here, on the thread pool.
    """
    session = request.app.state.sessionmaker()
    session.info["request_id"] = request.state.request_id
    try:
        yield session
    except BaseException:
        await _end(session, commit=False)
        raise
    await _end(session, commit=True)


async def _end(session: Session, *, commit: bool) -> None:
    if session.in_transaction():
        await run_in_threadpool(_finish, session, commit=commit)
    else:
        session.close()


def _finish(session: Session, *, commit: bool) -> None:
    """Commit or roll back, then close (closing also rolls back a failed commit)."""
    with session:
        if commit:
            session.commit()
        else:
            session.rollback()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def bearer_token(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


def get_current_user(request: Request, session: SessionDep, clock: ClockDep) -> User:
    return authenticate(session, bearer_token(request), now=clock.now())


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def get_page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> PageParams:
    """`?cursor=` (empty) means the first page, like no cursor at all: a client
    that echoes a null `next_cursor` back as an empty string is not punished."""
    return PageParams(limit=limit, cursor=cursor or None)


PageDep = Annotated[PageParams, Depends(get_page_params)]
