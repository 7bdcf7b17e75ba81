"""The header every signed-in page shows: the links the user's role allows,
with the approval queue's count and the unread notifications'.

Its counts are one statement, compiled once per role and prepared
(`plaudit.db.driver`): every page runs it, so it costs one round trip and no
planning. For approvers it also gives the queue's progress ("N of M
decided"), which the Approvals pages reuse rather than count again.
"""

import functools
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.clock import Clock
from plaudit.db.driver import DriverStatement, driver_of
from plaudit.models import User
from plaudit.models.enums import Role
from plaudit.services import nominations, notifications
from plaudit.services.nominations import QueueProgress


@dataclass(frozen=True)
class Link:
    href: str
    text: str
    count: int | None = None


@dataclass(frozen=True)
class Header:
    links: list[Link] = field(default_factory=list)
    progress: QueueProgress | None = None  # the approval queue's, for approvers (pages reuse it)
    unread: int | None = None  # unread notifications (the Notifications link is shown when not None)

    @property
    def waiting(self) -> int | None:
        return None if self.progress is None else self.progress.waiting


APPROVER_ROLES = frozenset({Role.manager.value, Role.admin.value})


@functools.cache
def _counts(role: str) -> DriverStatement:
    """SELECT unread[, decided, waiting] of a user with `role` (`nominations.caller_params`)."""
    unread = notifications.UNREAD_COUNT.scalar_subquery()
    if role not in APPROVER_ROLES:
        return DriverStatement.of(select(unread))
    progress = nominations.progress_select(role).subquery()
    return DriverStatement.of(select(unread, progress.c.decided, progress.c.waiting))


def header_for(session: Session, user: User, clock: Clock) -> Header:
    session.flush()  # as queries through the session would (e.g. a notification marked read)
    role = Role(user.role).value
    unread, *counts = _counts(role).execute(
        driver_of(session), nominations.caller_params(user, clock.now())
    ).fetchone()
    links = [Link("/app/nominate", "Nominate"), Link("/app/my/nominations", "My nominations")]
    progress = None
    if counts:
        progress = QueueProgress(decided=counts[0], waiting=counts[1])
        links.append(Link("/app/approvals", "Approvals", progress.waiting))
    if role == Role.admin.value:
        links += [Link("/app/cycles", "Cycles"), Link("/app/people", "People"), Link("/app/audit", "Audit log")]
    return Header(links=links, progress=progress, unread=unread)
