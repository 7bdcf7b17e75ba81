"""Notifications: who is told what, written in the caller's transaction (the outbox).

Every event of DOMAIN.md's table is one `INSERT INTO notifications ... SELECT`
over its recipients, whatever their number (publishing to 100,000 people is
one statement), `ON CONFLICT DO NOTHING` on the unique key (kind, subject_id,
recipient_id): a retried or rerun event tells nobody twice. The same
statement defers the mail job through procrastinate's own SQL function
(`procrastinate_defer_jobs_v1`, what its Python `defer` calls), one job per
event with mail to send: notification and job commit or roll back together
with the change. Callers write an event only after every check has passed,
so a refused request writes none.

`email_status` is decided at write time: `queued` when SMTP is configured
(`PLAUDIT_SMTP_URL`, read by the writing process) and the recipient has email
on, else `not_sent`. Title, body and link are frozen then (names as they
were); `link` is a path into the web app, made absolute with
`PLAUDIT_BASE_URL` where it is shown or mailed.

Decisions where DOMAIN.md is silent (also in the README):

- *nomination decided* is per status: approved, and rejected, are each told
  at most once (an approver who changes their decision can flip it).
- *cycle finalized*: a winner who also manages a winner's team gets the
  winner's notification (one per event and recipient); a manager's lists the
  team's winners. Inactive users are never told anything.
- Reminders (`send_reminders`) run inside the workers every minute with the
  time of their schedule as "now": the nomination reminder while
  `closes - 24 h <= now < closes`, the approval reminder while
  `closes - 48 h <= now < closes` and the approval window is open. The first
  run in the window tells everyone who qualifies then; a later run tells only
  people who newly qualify (the unique key).
- `GET /me/notifications` only reads; "reading marks read" is the explicit
  `POST /me/notifications/read` (ids, or all) and opening one in the web app.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    Boolean,
    ColumnElement,
    Select,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from plaudit import paging
from plaudit.config import get_settings
from plaudit.db.driver import DriverStatement, driver_of
from plaudit.errors import NotFound, ValidationFailed
from plaudit.models import Cycle, CycleResult, Nomination, Notification, Team, User
from plaudit.models.enums import CycleStatus, NominationStatus, Role
from plaudit.models.notifications import EmailStatus, NotificationKind
from plaudit.services import audit
from plaudit.services.queue import in_queue
from plaudit.services.users import require_admin

# The job queue: one `deliver` job per event with mail to send (plaudit.mail.jobs).
MAIL_QUEUE = "mail"
DELIVER_TASK = "plaudit.deliver"

NOMINATION_REMINDER_BEFORE = timedelta(hours=24)
APPROVAL_REMINDER_BEFORE = timedelta(hours=48)
RESET_EVERY = timedelta(minutes=10)

_NOTIFICATIONS = Notification.__table__
_USERS = User.__table__
_COLUMNS = ("recipient_id", "kind", "subject_id", "title", "body", "link")


def mail_enabled() -> bool:
    """Whether notifications written now are also mailed (SMTP configured)."""
    return get_settings().smtp_url is not None


# --------------------------------------------------------------------------- the outbox writer


def outbox_ctes(rows: Select[Any], mail: ColumnElement[bool]) -> tuple[CTE, CTE]:
    """The notifications of `rows` and their mail jobs, as CTEs of one statement.

    `rows` selects `_COLUMNS` and `wants_email` (the recipient's preference),
    one row per recipient. Returns the INSERT (RETURNING the new rows' kind,
    subject_id, email_status) and a SELECT deferring one `deliver` job per
    event that has mail queued; being a SELECT, it runs only when the
    statement reads it (see `written`).
    """
    source = rows.cte("recipients")
    status = case((and_(mail, source.c.wants_email), EmailStatus.queued.value), else_=EmailStatus.not_sent.value)
    notified = (
        pg_insert(_NOTIFICATIONS)
        .from_select(
            [*_COLUMNS, "email_status"], select(*(source.c[c] for c in _COLUMNS), status), include_defaults=False
        )
        .on_conflict_do_nothing(index_elements=["kind", "subject_id", "recipient_id"])
        .returning(_NOTIFICATIONS.c.kind, _NOTIFICATIONS.c.subject_id, _NOTIFICATIONS.c.email_status)
        .cte("notified")
    )
    events = (
        select(notified.c.kind, notified.c.subject_id)
        .where(notified.c.email_status == EmailStatus.queued.value)
        .distinct()
        .subquery("event")
    )
    # procrastinate_job_to_defer_v1: (queue, task, priority, lock, queueing_lock, args, scheduled_at).
    # The lock (the event) keeps two jobs of one event from running at once.
    job = literal_column(
        f"ROW('{MAIL_QUEUE}', '{DELIVER_TASK}', 0, event.kind || ':' || event.subject_id, NULL,"
        " jsonb_build_object('kind', event.kind, 'subject_id', event.subject_id), NULL)"
        "::procrastinate_job_to_defer_v1"
    )
    jobs = (
        select(func.cardinality(func.procrastinate_defer_jobs_v1(func.array_agg(job))).label("jobs"))
        .select_from(events)
        .having(func.count() > 0)
        .cte("mail_jobs")
    )
    return notified, jobs


def written(notified: CTE, jobs: CTE) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """(notifications written, mail jobs deferred): columns to select, which
    also make the statement run the jobs CTE."""
    return (
        select(func.count()).select_from(notified).scalar_subquery(),
        func.coalesce(select(jobs.c.jobs).scalar_subquery(), 0),
    )


def notify(session: Session, rows: Select[Any]) -> int:
    """Write the notifications of `rows` (see `outbox_ctes`) and defer their
    mail; returns how many were written (0 for those that already existed)."""
    notified, jobs = outbox_ctes(rows, literal(mail_enabled(), Boolean))
    count, _ = session.execute(select(*written(notified, jobs))).one()
    return count


def _text(value: str) -> BindParameter[str]:
    return literal(value, Text)


def _rows(
    recipient_id: ColumnElement[uuid.UUID],
    wants_email: ColumnElement[bool],
    kind: NotificationKind,
    subject_id: Any,
    title: Any,
    body: Any,
    link: Any,
) -> list[ColumnElement[Any]]:
    """The columns of a recipients row, labelled as `outbox_ctes` reads them."""

    def value(v: Any, type_: Any = Text) -> ColumnElement[Any]:
        return v if isinstance(v, ColumnElement) else literal(v, type_)

    return [
        recipient_id.label("recipient_id"),
        literal(kind.value, Text).label("kind"),
        value(subject_id, Uuid).label("subject_id"),
        value(title).label("title"),
        value(body).label("body"),
        value(link).label("link"),
        wants_email.label("wants_email"),
    ]


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- events


def cycle_published(session: Session, cycle: Cycle) -> int:
    """Every active user whose role may nominate in `cycle`: nominations are open, until when."""
    rows = select(
        *_rows(
            _USERS.c.id, _USERS.c.email_notifications, NotificationKind.cycle_published, cycle.id,
            f"Nominations are open: {cycle.name}",
            f"You can nominate a colleague in {cycle.name} until {_utc(cycle.nomination_closes_at)}.",
            f"/app/cycles/{cycle.id}/nominate",
        )
    ).where(_USERS.c.is_active, _USERS.c.role.in_(list(cycle.nominator_roles)))
    return notify(session, rows)


def nomination_created_rows(new_nomination: CTE) -> Select[Any]:
    """The recipients of a new nomination (for the creating statement, which
    binds `nominee_id`, `nominator_id`, `cycle_id`, `actor_name`): the
    nominee's team manager when they approve it without a conflict of
    interest, otherwise the active admins without one."""
    nominee_id = bindparam("nominee_id", type_=Uuid)
    nominator_id = bindparam("nominator_id", type_=Uuid)
    nominee, manager, admin = aliased(_USERS), aliased(_USERS), aliased(_USERS)
    teams = Team.__table__

    def unconflicted(user: Any) -> ColumnElement[bool]:
        return and_(user.c.is_active, user.c.id != nominator_id, user.c.id != nominee_id)

    managers = (
        select(manager.c.id, manager.c.email_notifications)
        .select_from(
            nominee.join(teams, teams.c.id == nominee.c.team_id).join(manager, manager.c.id == teams.c.manager_id)
        )
        .where(
            nominee.c.id == nominee_id,
            or_(manager.c.role == Role.manager.value, manager.c.role == Role.admin.value),  # no IN: see db.driver
            unconflicted(manager),
        )
        .cte("nominee_manager")
    )
    # 'admin' inline, not bound, so the prepared statement's generic plan can use ix_users_active_admins.
    admins = select(admin.c.id, admin.c.email_notifications).where(
        admin.c.role == literal_column(f"'{Role.admin.value}'"),
        unconflicted(admin),
        not_(exists(select(managers.c.id))),
    )
    recipients = union_all(select(managers.c.id, managers.c.email_notifications), admins).subquery("approver")
    cycles = Cycle.__table__
    nominee_name = select(_USERS.c.display_name).where(_USERS.c.id == nominee_id).scalar_subquery()
    cycle_name = select(cycles.c.name).where(cycles.c.id == bindparam("cycle_id", type_=Uuid)).scalar_subquery()
    return select(
        *_rows(
            recipients.c.id, recipients.c.email_notifications, NotificationKind.nomination_created,
            new_nomination.c.id,
            "A nomination waits for your decision",
            func.format("%s nominated %s in %s.", bindparam("actor_name", type_=Text), nominee_name, cycle_name),
            "/app/approvals",
        )
    ).select_from(new_nomination.join(recipients, true()))


def nomination_decided(session: Session, nomination: Nomination, status: str) -> int:
    """The nominator, when the nomination's status became approved or rejected."""
    kind = {
        NominationStatus.approved.value: NotificationKind.nomination_approved,
        NominationStatus.rejected.value: NotificationKind.nomination_rejected,
    }[status]
    nominator, nominee, cycles, nominations = aliased(_USERS), aliased(_USERS), Cycle.__table__, Nomination.__table__
    rows = (
        select(
            *_rows(
                nominator.c.id, nominator.c.email_notifications, kind, nominations.c.id,
                func.format(f"Your nomination of %s was {status}", nominee.c.display_name),
                func.format(f"Your nomination of %s in %s was {status}.", nominee.c.display_name, cycles.c.name),
                "/app/my/nominations",
            )
        )
        .select_from(
            nominations.join(nominator, nominator.c.id == nominations.c.nominator_id)
            .join(nominee, nominee.c.id == nominations.c.nominee_id)
            .join(cycles, cycles.c.id == nominations.c.cycle_id)
        )
        .where(nominations.c.id == nomination.id, nominator.c.is_active)
    )
    return notify(session, rows)


def cycle_finalized(session: Session, cycle: Cycle) -> int:
    """The winners, and the managers of their teams (at finalization); never
    a nominee who did not win. One notification per person: a winner who
    also manages a winner's team gets the winner's."""
    results, teams = CycleResult.__table__, Team.__table__
    winners = (
        select(results.c.nominee_id, results.c.nominee_name, teams.c.manager_id)
        .select_from(results.outerjoin(teams, teams.c.id == results.c.team_id))
        .where(results.c.cycle_id == cycle.id, results.c.is_winner)
        .cte("winners")
    )
    link = f"/app/cycles/{cycle.id}/results"
    candidates = union_all(
        select(
            winners.c.nominee_id.label("recipient_id"),
            literal(0).label("priority"),
            _text(f"You won in {cycle.name}").label("title"),
            _text(f"Congratulations: you are among the winners of {cycle.name}.").label("body"),
        ),
        select(
            winners.c.manager_id,
            literal(1),
            _text(f"Your team won in {cycle.name}"),
            func.format(
                "Winners of %s from your team: %s.",
                _text(cycle.name),
                func.string_agg(winners.c.nominee_name, literal_column("', '")),
            ),
        )
        .where(winners.c.manager_id.is_not(None))
        .group_by(winners.c.manager_id),
    ).subquery("candidate")
    rows = (
        select(
            *_rows(
                candidates.c.recipient_id, _USERS.c.email_notifications, NotificationKind.cycle_finalized,
                cycle.id, candidates.c.title, candidates.c.body, link,
            )
        )
        .join(_USERS, _USERS.c.id == candidates.c.recipient_id)
        .where(_USERS.c.is_active)
        .ext(distinct_on(candidates.c.recipient_id))
        .order_by(candidates.c.recipient_id, candidates.c.priority)
    )
    return notify(session, rows)


def send_reminders(session: Session, *, now: datetime) -> int:
    """The reminders due at `now` (see the module docstring), for every
    published cycle at once; returns how many notifications were written."""
    return _nomination_reminders(session, now) + _approval_reminders(session, now)


def _nomination_reminders(session: Session, now: datetime) -> int:
    cycles, nominations = Cycle.__table__, Nomination.__table__
    nominated = exists().where(
        nominations.c.cycle_id == cycles.c.id,
        nominations.c.nominator_id == _USERS.c.id,
        nominations.c.status != NominationStatus.withdrawn.value,
    )
    rows = select(
        *_rows(
            _USERS.c.id, _USERS.c.email_notifications, NotificationKind.nomination_reminder, cycles.c.id,
            func.format("Nominations close soon: %s", cycles.c.name),
            func.format(
                "Nominations for %s close at %s UTC; you have not nominated anyone yet.",
                cycles.c.name, func.to_char(func.timezone("UTC", cycles.c.nomination_closes_at), "YYYY-MM-DD HH24:MI"),
            ),
            func.format("/app/cycles/%s/nominate", cycles.c.id),
        )
    ).where(
        cycles.c.status == CycleStatus.published.value,
        cycles.c.nomination_opens_at <= now,
        cycles.c.nomination_closes_at - NOMINATION_REMINDER_BEFORE <= now,
        now < cycles.c.nomination_closes_at,
        _USERS.c.is_active,
        _USERS.c.role == any_(cycles.c.nominator_roles),
        not_(nominated),
    )
    return notify(session, rows)


def _approval_reminders(session: Session, now: datetime) -> int:
    """Approvers whose queue (`queue.in_queue`, the one definition the
    caller's queue uses too) holds nominations of the cycle: how many."""
    cycles, nominations, teams = Cycle.__table__, Nomination.__table__, Team.__table__
    nominee, approver = aliased(_USERS), aliased(_USERS)
    queue = (
        select(
            approver.c.id.label("approver_id"),
            approver.c.email_notifications,
            cycles.c.id.label("cycle_id"),
            cycles.c.name,
            cycles.c.approval_closes_at,
            func.count().label("waiting"),
        )
        .select_from(
            cycles.join(nominations, nominations.c.cycle_id == cycles.c.id)
            .join(nominee, nominee.c.id == nominations.c.nominee_id)
            .outerjoin(teams, teams.c.id == nominee.c.team_id)
            .join(approver, and_(*in_queue(approver.c, now, teams.c.manager_id)))
        )
        .where(cycles.c.approval_closes_at - APPROVAL_REMINDER_BEFORE <= now)
        .group_by(approver.c.id, approver.c.email_notifications, cycles.c.id)
        .subquery("queue")
    )
    rows = select(
        *_rows(
            queue.c.approver_id, queue.c.email_notifications, NotificationKind.approval_reminder, queue.c.cycle_id,
            func.format("Approvals close soon: %s", queue.c.name),
            func.format(
                "%s nomination(s) of %s wait for your decision; approvals close at %s UTC.",
                queue.c.waiting, queue.c.name,
                func.to_char(func.timezone("UTC", queue.c.approval_closes_at), "YYYY-MM-DD HH24:MI"),
            ),
            "/app/approvals",
        )
    )
    return notify(session, rows)


def password_reset_requested(session: Session, email: str, *, now: datetime) -> None:
    """"Forgot password?": when `email` is an active user's, a `password_reset`
    notification (mailed with a one-time link that the worker issues as it
    sends, so the secret is never stored); nothing for an unknown email (the
    page answers the same). Mailed whatever the user's email preference: they
    asked for it. At most one per user per `RESET_EVERY` (the event is that
    window of time: the unique key), so the form cannot flood an inbox."""
    window = int(now.timestamp() // RESET_EVERY.total_seconds())
    rows = select(
        *_rows(
            _USERS.c.id, true(), NotificationKind.password_reset,
            cast(func.md5(func.concat(_USERS.c.id, f":{window}")), Uuid),
            "Set a new password",
            "Someone (hopefully you) asked to reset your Plaudit password. The link in the email works once, "
            "within an hour. If it was not you, ignore it: your password stays as it is.",
            "/app/login",
        )
    ).where(func.lower(_USERS.c.email) == email.strip().lower(), _USERS.c.is_active)
    notify(session, rows)


# --------------------------------------------------------------------------- reading


def _mine(user: User) -> ColumnElement[bool]:
    return Notification.recipient_id == user.id


def list_notifications(
    session: Session,
    user: User,
    *,
    unread: bool = False,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
) -> paging.Page[Notification]:
    """The user's notifications, newest first (created_at, id), keyset-paged;
    with `unread`, only those not read yet. Reads only."""
    stmt = select(Notification).where(_mine(user))
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    keys = [paging.desc(Notification.created_at), paging.desc(Notification.id)]
    return paging.keyset_page(session, stmt, keys, limit=limit, cursor=cursor)


# The unread notifications of the user `me` (a parameter): a statement of its
# own, compiled once, run on the driver (`plaudit.db.driver`) and prepared (one
# plan fits every user), or part of the web header's one statement.
UNREAD_COUNT = select(func.count()).where(
    Notification.recipient_id == bindparam("me", type_=Uuid), Notification.read_at.is_(None)
)
_UNREAD = DriverStatement.of(UNREAD_COUNT)


def unread_count(session: Session, user: User) -> int:
    session.flush()  # as a query through the session would (reads marked in the ORM count)
    (count,) = _UNREAD.execute(driver_of(session), {"me": user.id}).fetchone()
    return count


def open_notification(session: Session, user: User, notification_id: uuid.UUID, *, now: datetime) -> str:
    """Reading one notification (the web app opens it): marks it read, keeping
    the first read time, and returns its link. Another's is `not_found`."""
    found = session.scalar(select(Notification).where(Notification.id == notification_id, _mine(user)))
    if found is None:
        raise NotFound(f"notification {notification_id} not found")
    if found.read_at is None:
        found.read_at = now
        session.flush()
    return found.link


def mark_read(
    session: Session, user: User, *, ids: list[uuid.UUID] | None = None, everything: bool = False, now: datetime
) -> int:
    """Mark the user's notifications `ids` (or all of them) read at `now`.
    Idempotent: read ones keep their first `read_at`; ids that are not the
    user's are ignored, like unknown ones (nothing about them is revealed).
    Not audited: reading changes no business data. Returns how many changed."""
    if everything == (ids is not None):
        raise ValidationFailed(
            "give either ids or all: true", errors=[{"loc": ["body"], "msg": "give either ids or all: true"}]
        )
    stmt = update(Notification).where(_mine(user), Notification.read_at.is_(None))
    if not everything:
        stmt = stmt.where(Notification.id.in_(ids or []))
    return session.execute(stmt.values(read_at=now), execution_options={"synchronize_session": False}).rowcount


# --------------------------------------------------------------------------- preferences


@dataclass(frozen=True)
class Preferences:
    email_notifications: bool


def get_preferences(user: User) -> Preferences:
    return Preferences(email_notifications=user.email_notifications)


def set_preferences(session: Session, user: User, *, email_notifications: bool) -> Preferences:
    """The user turns email on or off (notifications already queued stay
    queued). Writes `user.update` with the change; nothing when unchanged."""
    audit.change_and_record(
        session, user, user, {"email_notifications": email_notifications},
        action="user.update", entity_type="user", fields=("email_notifications",),
    )
    return get_preferences(user)


# --------------------------------------------------------------------------- the outbox, for admins


@dataclass(frozen=True)
class OutboxEntry:
    notification_id: uuid.UUID
    recipient_id: uuid.UUID
    recipient_email: str
    kind: str
    email_status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def list_outbox(
    session: Session,
    actor: User | None,
    *,
    email_status: EmailStatus | str | None = None,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
) -> paging.Page[OutboxEntry]:
    """Every notification's mail state, newest first (admins): what was sent,
    what waits, what failed and the server's reply. Filter `email_status`."""
    require_admin(actor)
    stmt = select(Notification)
    if email_status is not None:
        stmt = stmt.where(Notification.email_status == EmailStatus(email_status).value)
    keys = [paging.desc(Notification.created_at), paging.desc(Notification.id)]
    page = paging.keyset_page(session, stmt, keys, limit=limit, cursor=cursor)
    emails = dict(
        session.execute(
            select(User.id, User.email).where(User.id.in_({n.recipient_id for n in page.items}))
        ).all()
    ) if page.items else {}
    entries = [
        OutboxEntry(
            notification_id=n.id, recipient_id=n.recipient_id, recipient_email=emails[n.recipient_id], kind=n.kind,
            email_status=n.email_status, attempts=n.attempts, last_error=n.last_error, created_at=n.created_at,
            sent_at=n.sent_at,
        )
        for n in page.items
    ]
    return paging.Page(items=entries, next_cursor=page.next_cursor)


__all__ = [
    "DELIVER_TASK",
    "MAIL_QUEUE",
    "cycle_finalized",
    "cycle_published",
    "get_preferences",
    "list_notifications",
    "list_outbox",
    "mark_read",
    "nomination_created_rows",
    "nomination_decided",
    "open_notification",
    "password_reset_requested",
    "notify",
    "outbox_ctes",
    "send_reminders",
    "set_preferences",
    "UNREAD_COUNT",
    "unread_count",
    "written",
]
