"""Mailing one event's queued notifications (the body of the `deliver` job).

One job per event (kind, subject): it reads the event's queued
notifications in batches (keyset by id), sends each over one SMTP
connection, and records the batch's outcomes in one statement and one short
transaction. No row lock is held while talking to the SMTP server (a slow
server must not block a reader marking notifications read): only the
event's job sends its mails, procrastinate runs a job on one worker at a
time, and the job's lock (the event) keeps a second job of the same event
from running beside it. So two workers never send the same mail.

A worker killed mid-batch has sent some of the batch without recording it:
after recovery the job resends those, at most one batch (`PLAUDIT_MAIL_BATCH`),
with the same Message-ID. Outcomes: sent; a 5xx reply is `failed` at once
with the reply in `last_error`; a temporary failure counts an attempt and
leaves the mail queued, or `failed` at the 8th attempt. When anything is
left queued, the job raises `RetryLater` and the queue retries it with
exponential backoff (`plaudit.mail.jobs.MailRetry`).
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ARRAY, Text, Uuid, bindparam, case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from plaudit.clock import system_clock
from plaudit.mail.render import Mail, render
from plaudit.mail.smtp import DeliveryError, Mailer
from plaudit.models import Notification, User
from plaudit.models.notifications import EmailStatus, NotificationKind
from plaudit.services import passwords

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


class RetryLater(Exception):
    """Some mails of the event are still queued after a temporary failure."""


@dataclass(frozen=True)
class Outcome:
    notification_id: uuid.UUID
    status: str  # sent, failed, or queued (a temporary failure: try again)
    error: str | None = None


_QUEUED = select(
    Notification.id, User.id.label("user_id"), User.email, User.display_name, Notification.title,
    Notification.body, Notification.link,
).join(User, User.id == Notification.recipient_id)

def _still_queued(status, attempts):
    """A temporary failure: queued again, or `failed` at the last attempt."""
    return case((attempts + 1 >= MAX_ATTEMPTS, EmailStatus.failed.value), else_=status)


# One statement records a batch. A temporary failure becomes `failed` at the
# last attempt. `email_status = 'queued'` keeps a late outcome from
# overwriting a newer one.
_T = Notification.__table__
_OUTCOMES = (
    func.unnest(
        bindparam("ids", type_=ARRAY(Uuid)),
        bindparam("statuses", type_=ARRAY(Text)),
        bindparam("errors", type_=ARRAY(Text)),
    )
    .table_valued("id", "status", "error")
    .render_derived(name="outcome")
)
_RECORD = (
    update(_T)
    .where(_T.c.id == _OUTCOMES.c.id, _T.c.email_status == EmailStatus.queued.value)
    .values(
        attempts=_T.c.attempts + 1,
        email_status=case(
            (_OUTCOMES.c.status == EmailStatus.queued.value, _still_queued(_OUTCOMES.c.status, _T.c.attempts)),
            else_=_OUTCOMES.c.status,
        ),
        last_error=_OUTCOMES.c.error,
        sent_at=case((_OUTCOMES.c.status == EmailStatus.sent.value, func.now())),
    )
)


def fail_rest(session: Session, kind: str, subject_id: uuid.UUID, after: uuid.UUID | None, error: str) -> None:
    """A temporary failure for the event's queued mails after `after` (the
    server could not be reached: they count an attempt too)."""
    stmt = update(_T).where(
        _T.c.kind == kind, _T.c.subject_id == subject_id, _T.c.email_status == EmailStatus.queued.value
    )
    if after is not None:
        stmt = stmt.where(_T.c.id > after)
    session.execute(
        stmt.values(
            attempts=_T.c.attempts + 1, last_error=error, email_status=_still_queued(_T.c.email_status, _T.c.attempts)
        )
    )


def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    if outcomes:
        session.execute(
            _RECORD,
            {
                "ids": [o.notification_id for o in outcomes],
                "statuses": [o.status for o in outcomes],
                "errors": [o.error for o in outcomes],
            },
        )


def _reset_link(factory: sessionmaker[Session], user_id: uuid.UUID) -> str:
    """A fresh one-time set-password link (valid 1 hour), issued as the mail
    goes out, so its secret is never stored: only the mail carries it."""
    with factory.begin() as session:
        user = session.get(User, user_id)
        return "/app/set-password/" + passwords.issue_link(session, None, user, purpose="reset", now=system_clock.now())


def deliver_event(
    factory: sessionmaker[Session],
    kind: str,
    subject_id: uuid.UUID,
    *,
    mailer: Mailer | None,
    base_url: str,
    mail_from: str,
    batch: int,
) -> int:
    """Send the event's queued mails; returns how many were sent. Raises
    `RetryLater` when some are left queued. `mailer` None: no SMTP on this
    worker, a temporary failure for every mail of the event."""
    sent = 0
    retry = False
    after: uuid.UUID | None = None
    while True:
        stmt = _QUEUED.where(
            Notification.kind == kind,
            Notification.subject_id == subject_id,
            Notification.email_status == EmailStatus.queued.value,
        )
        if after is not None:
            stmt = stmt.where(Notification.id > after)
        with factory() as session:
            rows = session.execute(stmt.order_by(Notification.id).limit(batch)).all()
        if not rows:
            break
        outcomes: list[Outcome] = []
        stop = False
        for row in rows:
            after = row.id
            if mailer is None:
                outcomes.append(Outcome(row.id, EmailStatus.queued.value, "PLAUDIT_SMTP_URL is not set on the worker"))
                continue
            link = _reset_link(factory, row.user_id) if kind == NotificationKind.password_reset else row.link
            mail = Mail(row.id, row.email, row.display_name, row.title, row.body, link)
            try:
                mailer.send(render(mail, base_url=base_url, mail_from=mail_from), mail_from, row.email)
            except DeliveryError as error:
                status = EmailStatus.failed.value if error.permanent else EmailStatus.queued.value
                outcomes.append(Outcome(row.id, status, error.reply))
                if error.connection:
                    stop = True  # the server is unreachable: the rest waits for the retry
                    break
            else:
                outcomes.append(Outcome(row.id, EmailStatus.sent.value))
                sent += 1
        with factory.begin() as session:
            record(session, outcomes)
            if stop:
                fail_rest(session, kind, subject_id, after, outcomes[-1].error or "")
        retry = retry or any(o.status == EmailStatus.queued.value for o in outcomes)
        if stop:
            retry = True
            break
    if mailer is not None:
        mailer.close()
    if retry:
        raise RetryLater(f"{kind}:{subject_id}: some mails are still queued")
    return sent
