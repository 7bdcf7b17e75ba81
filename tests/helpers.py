"""Small helpers shared by test modules: reading audit rows and counting rows,
API callers with a token, and the basic problem+json check.

Factories (rows the tests arrange) live in `tests/factories.py`; these only
read or wrap what the tests do."""

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.models import AuditLog, User
from tests.factories import auth, make_token, make_user


def audit_rows(session: Session, *, entity_id: uuid.UUID | None = None, action: str | None = None) -> list[AuditLog]:
    """The audit rows (optionally of one entity and/or action), oldest first."""
    stmt = select(AuditLog).order_by(AuditLog.seq)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    return list(session.scalars(stmt))


def audit_count(session: Session, *, entity_id: uuid.UUID | None = None, action: str | None = None) -> int:
    """How many audit rows there are (optionally of one entity and/or action)."""
    stmt = select(func.count()).select_from(AuditLog)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    return session.scalar(stmt)


def row_count(session: Session, model: Any) -> int:
    """How many rows `model`'s table holds."""
    return session.scalar(select(func.count()).select_from(model))


def as_role(session: Session, role: str = "employee", **user_fields: Any) -> tuple[User, dict[str, str]]:
    """A new user with `role` and the Authorization headers of a token of theirs."""
    user = make_user(session, role=role, **user_fields)
    return user, auth(make_token(session, user))


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is a problem+json with this HTTP status and error code; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    return response.json()


def race_against_uncommitted(
    first: Session, second: Session, attempt: Callable[[], Any], *, ok: str, refused: tuple[type[Exception], str]
) -> dict[str, str]:
    """`first` holds uncommitted changes; `attempt` (working in `second`) runs in
    a thread and waits on them; `first` commits after 0.3 s. Returns
    `{"result": ok}` when `attempt` then succeeded (`second` committed), or
    `{"result": refused[1]}` when it raised `refused[0]` (`second` rolled back)."""
    outcome: dict[str, str] = {}

    def contender() -> None:
        try:
            attempt()
            second.commit()
            outcome["result"] = ok
        except refused[0]:
            second.rollback()
            outcome["result"] = refused[1]

    thread = threading.Thread(target=contender)
    thread.start()
    thread.join(0.3)  # the contender now waits on `first`'s row lock or index entry
    first.commit()
    thread.join(10)
    return outcome


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a free port, in a thread; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
