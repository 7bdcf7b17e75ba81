"""The header every signed-in page shows: the links the user's role allows,
with the approval queue's count and the unread notifications'."""

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from plaudit.clock import Clock
from plaudit.models import User
from plaudit.models.enums import Role
from plaudit.services.nominations import QueueProgress, queue_progress
from plaudit.services.notifications import unread_count


@dataclass(frozen=True)
class Link:
    href: str
    text: str
    count: int | None = None


@dataclass(frozen=True)
class Header:
    links: list[Link] = field(default_factory=list)
    progress: QueueProgress | None = None  # the approval queue's, for approvers (pages reuse it)
    unread: int | None = None  # unread notifications (link shown when not None; its count when > 0)

    @property
    def waiting(self) -> int | None:
        return None if self.progress is None else self.progress.waiting


APPROVER_ROLES = frozenset({Role.manager.value, Role.admin.value})


def header_for(session: Session, user: User, clock: Clock) -> Header:
    links = [Link("/app/nominate", "Nominate"), Link("/app/my/nominations", "My nominations")]
    progress = None
    if user.role in APPROVER_ROLES:
        progress = queue_progress(session, user, clock=clock)
        links.append(Link("/app/approvals", "Approvals", progress.waiting))
    if user.role == Role.admin:
        links += [Link("/app/cycles", "Cycles"), Link("/app/people", "People"), Link("/app/audit", "Audit log")]
    return Header(links=links, progress=progress, unread=unread_count(session, user))
