"""Nominations: create, edit, withdraw, read, list; who may see them; who approves them.

Decisions where DOMAIN.md is silent (also in the README):

- **Input first.** The justification is trimmed and must then be 10–5000
  characters without NUL; a bad one is `validation_error` before any rule is
  checked (the HTTP schema refuses it even earlier, like any malformed body).
- **Visibility** is the union DOMAIN.md lists: the nominator, admins, the
  nomination's approvers, and — as nominee — the nominee once the cycle is
  finalized or archived, for `approved` nominations only. Being the nominee
  wins over every role: an admin, or the manager of their own team, is a
  nominee like any other for nominations about them (`not_found`, in lists
  too, and in their queue; never their approvals; the audit log leaves their
  rows out for them too, `services.audit`). Drafts hold no nominations and are
  invisible to non-admins.
- **The approver's queue** (`approval_queue`) and its counts
  (`queue_progress`) are one statement each; the queue is ordered by the
  cycle's deadline, then the decisions so far, which an index on
  `cycles.approval_closes_at` lets PostgreSQL read incrementally and stop
  after the page.
- **Editing** (`update_nomination`): nominator only (others who can see it get
  `forbidden`), then `cycle_state` (published), `window_closed` (nomination
  window), `nomination_state` (status must be `pending` and no approval
  recorded). An unchanged justification is a no-op: no write, no audit row.
- **Withdrawing** is allowed for any status while the cycle is published
  (approved and rejected ones too: the nominator may retract their words;
  its approvals stay for the record and it no longer counts). Withdrawing a
  withdrawn nomination returns it unchanged, with no audit row, whatever the
  cycle's status now is (an idempotent retry always succeeds).

Creation in one round trip, and its concurrency (rules 8 and 9 under races):
one statement reads the cycle `FOR KEY SHARE` (the lock of `get_cycle(...,
lock="key_share")`: it conflicts with cycle writers such as finalize, not
with other nominations), evaluates checks 1-7, and, when they all pass and
the cycle has no quota, inserts the nomination and its audit row. The insert
is `INSERT … ON CONFLICT DO NOTHING` on the partial unique index
`uq_nominations_live_pair`, so rule 8 needs no query of its own: a duplicate
(or one racing in, whose insert makes ours wait, then do nothing) inserts
nothing and becomes `duplicate_nomination`, never a 500. Python then reports
the first check that failed, in DOMAIN.md's order. When the cycle has a
quota, the same statement instead takes a transaction-scoped advisory lock
keyed on (cycle, nominator), which serializes one nominator's creations in
the cycle across processes; the counts are read after it in a new statement,
so they see every committed competitor, and that statement inserts when
rules 8 and 9 allow.
"""

import functools
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    Boolean,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased, with_expression

from plaudit.clock import Clock
from plaudit.db.driver import DriverStatement, adopt, driver_of
from plaudit.errors import (
    CycleState,
    DuplicateNomination,
    Forbidden,
    IneligibleNominee,
    InvalidNominee,
    NominationState,
    NotFound,
    QuotaExceeded,
    SelfNomination,
    ValidationFailed,
    WindowClosed,
)
from plaudit.models import Approval, Cycle, CycleResult, Nomination, Team, User
from plaudit.models.enums import CycleStatus, NominationStatus, Role
from plaudit.paging import DEFAULT_LIMIT, Page, asc, desc, keyset_page, keyset_params, keyset_statement, page_of_rows
from plaudit.services import audit, notifications
from plaudit.services.cycles import get_cycle, nominations_open, window_open_clause
from plaudit.services.queue import decidable_by, decisions_of, in_queue, sql_text

NOMINATION_FIELDS = ("cycle_id", "nominator_id", "nominee_id", "justification", "status", "withdrawn_at")

JUSTIFICATION_MIN = 10
JUSTIFICATION_MAX = 5000

CLOSED_STATUSES = (CycleStatus.finalized.value, CycleStatus.archived.value)

_CYCLES = Cycle.__table__
_USERS = User.__table__
_NOMINATIONS = Nomination.__table__


# --------------------------------------------------------------------------- input


def clean_justification(value: str) -> str:
    """The justification trimmed; `validation_error` unless 10–5000 characters, no NUL."""
    text_ = value.strip() if isinstance(value, str) else ""
    problem = justification_problem(text_)
    if problem:
        raise ValidationFailed(
            f"justification {problem}", errors=[{"loc": ["body", "justification"], "msg": problem}]
        )
    return text_


def justification_problem(trimmed: str) -> str | None:
    """Why a trimmed justification is unacceptable, or None (shared with the schema)."""
    if "\x00" in trimmed:
        return "must not contain NUL characters"
    if not JUSTIFICATION_MIN <= len(trimmed) <= JUSTIFICATION_MAX:
        return f"must be {JUSTIFICATION_MIN}-{JUSTIFICATION_MAX} characters after trimming"
    return None


# --------------------------------------------------------------------------- approvers and visibility


def _manages_nominee(user_id: uuid.UUID, nominee_id: ColumnElement[uuid.UUID] | uuid.UUID) -> ColumnElement[bool]:
    """EXISTS: `user_id` is the manager_id of the nominee's team."""
    nominee = aliased(User)
    return exists().where(nominee.id == nominee_id, Team.id == nominee.team_id, Team.manager_id == user_id)


def approver_clause(
    user: User, team_manager_id: ColumnElement[uuid.UUID | None] | None = None
) -> ColumnElement[bool]:
    """SQL: `user` is an approver of the row's nomination (DOMAIN.md "Approver
    of a nomination": an active admin, or the active manager_id of the
    nominee's team with role manager or admin). Correlates to `Nomination`;
    `team_manager_id`, where the statement already joins the nominee's team,
    is its manager_id column (no subquery then)."""
    if not user.is_active:
        return false()
    if user.role == Role.admin:
        return true()
    if user.role == Role.manager:
        if team_manager_id is not None:
            return team_manager_id == user.id
        return _manages_nominee(user.id, Nomination.nominee_id)
    return false()


def approves(user: User, team_manager_id: uuid.UUID | None) -> bool:
    """`approver_clause` in Python, given the manager_id of the nominee's team."""
    return user.is_active and (
        user.role == Role.admin or (user.role == Role.manager and team_manager_id == user.id)
    )


def is_approver(session: Session, user: User, nomination: Nomination) -> bool:
    """Whether `user` is an approver of `nomination` (same rule as `approver_clause`).
    Conflicts of interest are a separate check; an approver may be conflicted."""
    if user.role != Role.manager:  # the nominee's team does not matter
        return approves(user, None)
    nominee = aliased(User)
    manager_id = session.scalar(
        select(Team.manager_id).join(nominee, nominee.team_id == Team.id).where(nominee.id == nomination.nominee_id)
    )
    return approves(user, manager_id)


def reads_approvals_clause(
    actor: User | None, team_manager_id: ColumnElement[uuid.UUID | None] | None = None
) -> ColumnElement[bool]:
    """SQL: `actor` may read the row's approvals (and its `approvals_count`):
    an approver of it who is not its nominee (being the nominee wins over
    every role). `actor` None is the command line. `team_manager_id`: see
    `approver_clause`."""
    if actor is None:
        return true()
    return and_(approver_clause(actor, team_manager_id), Nomination.nominee_id != actor.id)


def may_read_approvals(session: Session, actor: User | None, nomination: Nomination) -> bool:
    """`reads_approvals_clause` for one nomination."""
    return actor is None or (nomination.nominee_id != actor.id and is_approver(session, actor, nomination))


def visible_clause(actor: User | None, *, cycle_status: str | None = None) -> ColumnElement[bool]:
    """SQL: `actor` may see the row's nomination. One filter, no per-row Python.

    Being the nominee wins over every role (DOMAIN.md): the nominee sees a
    nomination about them only once its cycle is finalized or archived, and
    only an approved one, even when they are an admin or the manager of their
    own team. `cycle_status`, when the caller already holds the cycle (lists),
    replaces the per-row cycle lookups. `actor` None is the command line:
    everything.
    """
    if actor is None:
        return true()
    if cycle_status is not None:
        cycle_closed: ColumnElement[bool] = true() if cycle_status in CLOSED_STATUSES else false()
        cycle_visible: ColumnElement[bool] = (
            true() if cycle_status != CycleStatus.draft or actor.role == Role.admin else false()
        )
    else:
        # Own FROM even where the outer query joins `cycles` (`named`).
        cycle_closed = (
            exists().where(Cycle.id == Nomination.cycle_id, Cycle.status.in_(CLOSED_STATUSES)).correlate_except(Cycle)
        )
        cycle_visible = (
            true()
            if actor.role == Role.admin
            else exists()
            .where(Cycle.id == Nomination.cycle_id, Cycle.status != CycleStatus.draft.value)
            .correlate_except(Cycle)
        )
    as_reader = and_(
        Nomination.nominee_id != actor.id, or_(Nomination.nominator_id == actor.id, approver_clause(actor))
    )
    as_nominee = and_(
        Nomination.nominee_id == actor.id,
        Nomination.status == NominationStatus.approved.value,
        cycle_closed,
    )
    return and_(cycle_visible, or_(as_reader, as_nominee))


def can_see_nomination(session: Session, actor: User | None, nomination: Nomination) -> bool:
    """Whether `actor` may see `nomination` (the rule of `visible_clause`)."""
    return bool(
        session.scalar(select(exists().where(Nomination.id == nomination.id, visible_clause(actor))))
    )


# --------------------------------------------------------------------------- reading, with names

_NOMINATOR = aliased(User, name="nominator")
_NOMINEE = aliased(User, name="nominee")
NOMINEE_TEAM = aliased(Team, name="nominee_team")
# The decisions recorded so far on the row's nomination (index-only on the
# approvals' unique (nomination_id, approver_id) index).
_DECISIONS = (
    select(func.count().label("n")).where(Approval.nomination_id == Nomination.id).lateral("decisions")
)


def named(
    actor: User | None, *where: ColumnElement[bool], approvals_readable: bool = False
) -> Select[tuple[Nomination]]:
    """SELECT the nominations matching `where`, each with the names beside its
    ids (API.md "Names beside ids": cycle, nominator, nominee, the nominee's
    team) and `approvals_count` (null unless `actor` may read its approvals;
    `approvals_readable` when `where` already says they may), all joined in
    this one statement: no query per row. `where` may refer to the joined
    `Cycle` and to `NOMINEE_TEAM`.

    The statement reloads rows the session already holds, so the names are
    there also on a nomination read before. Visibility is the caller's filter.
    """
    shown = true() if approvals_readable else reads_approvals_clause(actor, NOMINEE_TEAM.manager_id)
    return (
        select(Nomination)
        .join(Cycle, Cycle.id == Nomination.cycle_id)
        .join(_NOMINATOR, _NOMINATOR.id == Nomination.nominator_id)
        .join(_NOMINEE, _NOMINEE.id == Nomination.nominee_id)
        .outerjoin(NOMINEE_TEAM, NOMINEE_TEAM.id == _NOMINEE.team_id)
        .join(_DECISIONS, true())
        .where(*where)
        .options(
            with_expression(Nomination.cycle_name, Cycle.name),
            with_expression(Nomination.nominator_name, _NOMINATOR.display_name),
            with_expression(Nomination.nominee_name, _NOMINEE.display_name),
            with_expression(Nomination.nominee_team_name, NOMINEE_TEAM.name),
            with_expression(Nomination.approvals_count, case((shown, _DECISIONS.c.n), else_=None)),
        )
        .execution_options(populate_existing=True)
    )


def load_nomination(
    session: Session, actor: User | None, nomination_id: uuid.UUID, *, lock: bool = False
) -> tuple[Nomination, Cycle]:
    """The nomination `actor` may see (with its names), and its cycle; `not_found` otherwise.

    With `lock`, the nomination row is locked FOR UPDATE (writers of one
    nomination serialize: edits, withdrawals, approvals) and the cycle FOR KEY
    SHARE (conflicts with cycle writers such as finalize). Lock order is
    always nomination, then cycle.
    """
    stmt = named(actor, Nomination.id == nomination_id, visible_clause(actor))
    if lock:
        stmt = stmt.with_for_update(of=Nomination)
    nomination = session.scalars(stmt).one_or_none()
    if nomination is None:
        raise NotFound(f"nomination {nomination_id} not found")
    cycle = get_cycle(session, actor, nomination.cycle_id, lock="key_share" if lock else None)
    return nomination, cycle


def get_nomination(session: Session, actor: User | None, nomination_id: uuid.UUID) -> Nomination:
    """The nomination (with its names) if `actor` may see it, else `not_found`. Reads only."""
    nomination = session.scalars(named(actor, Nomination.id == nomination_id, visible_clause(actor))).one_or_none()
    if nomination is None:
        raise NotFound(f"nomination {nomination_id} not found")
    return nomination


# --------------------------------------------------------------------------- create


# The create path's statements: Core, compiled once and run on the driver
# (`plaudit.db.driver`): it is benchmarked against raw INSERTs, and
# SQLAlchemy's per-execution work would cost more than the statements do.

_INSERTED = ("id", *NOMINATION_FIELDS)
_ROLE = bindparam("role", type_=Text)
_NOW = bindparam("now", type_=DateTime(timezone=True))


def _value(name: str) -> BindParameter[Any]:
    return bindparam(name, type_=_NOMINATIONS.c[name].type)


# The cycle FOR KEY SHARE (the lock of `get_cycle(..., lock="key_share")`).
_CYCLE = (
    select(
        _CYCLES.c.name,
        _CYCLES.c.status,
        _CYCLES.c.nominator_roles,
        _CYCLES.c.nomination_opens_at,
        _CYCLES.c.nomination_closes_at,
        _CYCLES.c.max_nominations_per_nominator.label("quota"),
        _CYCLES.c.winner_cooldown_cycles.label("cooldown"),
    )
    .where(_CYCLES.c.id == _value("cycle_id"))
    .with_for_update(read=True, key_share=True)
    .cte("cycle")
)

# Check 7 (DOMAIN.md "Eligibility"): the most recent cycle among the cycle's
# `winner_cooldown_cycles` most recently finalized others (finalized or
# archived; ties in finalized_at broken by id) that the nominee won, or NULL.
# A cool-down of 0 is `LIMIT 0`: nothing is read.
_FINISHED = Cycle.__table__.alias("finished")
_RECENT = (
    select(_FINISHED.c.id, _FINISHED.c.name, _FINISHED.c.finalized_at)
    .where(_FINISHED.c.finalized_at.is_not(None), _FINISHED.c.id != _value("cycle_id"))
    .order_by(_FINISHED.c.finalized_at.desc(), _FINISHED.c.id.desc())
    .limit(_CYCLE.c.cooldown)
    .subquery("recent")
)
_WON = CycleResult.__table__
_WON_IN = (
    select(_RECENT.c.name)
    .join(_WON, and_(_WON.c.cycle_id == _RECENT.c.id, _WON.c.nominee_id == _value("nominee_id"), _WON.c.is_winner))
    .order_by(_RECENT.c.finalized_at.desc(), _RECENT.c.id.desc())
    .limit(1)
    .scalar_subquery()
)

# The nominee, with their team (for the names beside the ids, API.md).
_NOMINEE_ROW = (
    select(
        _USERS.c.is_active,
        _USERS.c.display_name,
        Team.__table__.c.name.label("team_name"),
        Team.__table__.c.manager_id.label("team_manager_id"),
    )
    .select_from(_USERS.outerjoin(Team.__table__, Team.__table__.c.id == _USERS.c.team_id))
    .where(_USERS.c.id == _value("nominee_id"))
    .cte("nominee")
)

# Checks 1-7 of DOMAIN.md in order, each true when it passes (7: with the
# cycle the nominee won); and, only when the cycle has a quota, the (cycle,
# nominator) advisory lock.
_CHECKS = select(
    or_(_CYCLE.c.status != CycleStatus.draft.value, _ROLE == Role.admin.value).label("visible"),
    (_ROLE == any_(_CYCLE.c.nominator_roles)).label("may_nominate"),
    (_CYCLE.c.status == CycleStatus.published.value).label("published"),
    window_open_clause(_CYCLE.c.nomination_opens_at, _CYCLE.c.nomination_closes_at, _NOW).label("window_open"),
    func.coalesce(_NOMINEE_ROW.c.is_active, false()).label("nominee_active"),
    (_value("nominee_id") != _value("nominator_id")).label("not_self"),
    _WON_IN.label("won_in"),
    _CYCLE.c.status,
    _CYCLE.c.quota,
    case(
        (_CYCLE.c.quota.is_not(None), func.pg_advisory_xact_lock(func.hashtextextended(bindparam("lock_key"), 0)))
    ).label("locked"),
    _CYCLE.c.name.label("cycle_name"),
    _NOMINEE_ROW.c.display_name.label("nominee_name"),
    _NOMINEE_ROW.c.team_name.label("nominee_team_name"),
    _NOMINEE_ROW.c.team_manager_id,
).select_from(_CYCLE.outerjoin(_NOMINEE_ROW, true())).cte("checks")
_NAMES = ("cycle_name", "nominee_name", "nominee_team_name", "team_manager_id")
_PASSED = ("visible", "may_nominate", "published", "window_open", "nominee_active", "not_self")
_CHECKED = (*_PASSED, "won_in")


def _insert(source: Select[Any]) -> CTE:
    """INSERT the nomination from `source` (a row of `_value`s, or none) as a CTE;
    a live (cycle, nominator, nominee) pair already there makes it insert nothing."""
    return (
        pg_insert(_NOMINATIONS)
        .from_select(_INSERTED, source)
        .on_conflict_do_nothing(
            index_elements=["cycle_id", "nominator_id", "nominee_id"],
            index_where=text("status <> 'withdrawn'"),
        )
        .returning(_NOMINATIONS.c.id, _NOMINATIONS.c.created_at, _NOMINATIONS.c.updated_at)
        .cte("new_nomination")
    )


def _with_audit(new_nomination: CTE, query: Select[Any]) -> DriverStatement:
    """`query`, with the new nomination's stamps (NULL when nothing was
    inserted), its audit row and its notifications (with their mail job)
    written by the same statement."""
    notified, jobs = notifications.outbox_ctes(
        notifications.nomination_created_rows(new_nomination), bindparam("mail", type_=Boolean)
    )
    return DriverStatement.of(
        query.add_columns(
            new_nomination.c.created_at, new_nomination.c.updated_at, *notifications.written(notified, jobs)
        )
        .add_cte(audit.creation_cte(new_nomination))
        .add_cte(notified)
    )


_VALUES = select(*(_value(name) for name in _INSERTED))

# Without a quota, everything in one round trip: the checks, and the insert
# with its audit row when they all pass (rule 8 is then the insert's ON CONFLICT).
_NEW_UNLESS_QUOTA = _insert(
    _VALUES.where(*(_CHECKS.c[name] for name in _PASSED), _CHECKS.c.won_in.is_(None), _CHECKS.c.quota.is_(None))
)
_CHECK_AND_CREATE = _with_audit(
    _NEW_UNLESS_QUOTA,
    select(*(_CHECKS.c[name] for name in (*_CHECKED, "status", "quota", "locked", *_NAMES))).select_from(
        _CHECKS.outerjoin(_NEW_UNLESS_QUOTA, true())
    ),
)

# With a quota, rules 8 and 9 in a second statement, after the lock: the
# nominator's live nominations in the cycle (of this nominee, in all), and the
# insert with its audit row when neither rule refuses it.
_COUNTS = (
    select(
        func.count().filter(_NOMINATIONS.c.nominee_id == _value("nominee_id")).label("same_nominee"),
        func.count().label("total"),
    )
    .where(
        _NOMINATIONS.c.cycle_id == _value("cycle_id"),
        _NOMINATIONS.c.nominator_id == _value("nominator_id"),
        _NOMINATIONS.c.status != NominationStatus.withdrawn.value,
    )
    .cte("counts")
)
_NEW_WITHIN_QUOTA = _insert(
    _VALUES.where(_COUNTS.c.same_nominee == 0, _COUNTS.c.total < bindparam("quota", type_=Integer))
)
_COUNT_AND_CREATE = _with_audit(
    _NEW_WITHIN_QUOTA,
    select(_COUNTS.c.same_nominee, _COUNTS.c.total).select_from(_COUNTS.outerjoin(_NEW_WITHIN_QUOTA, true())),
)


def _lock_key(cycle_id: uuid.UUID, nominator_id: uuid.UUID) -> str:
    return f"plaudit:nominations:{cycle_id}:{nominator_id}"


def create_nomination(
    session: Session,
    actor: User,
    cycle_id: uuid.UUID,
    *,
    nominee_id: uuid.UUID,
    justification: str,
    clock: Clock,
) -> Nomination:
    """`actor` nominates `nominee_id` in the cycle. Writes `nomination.create`.

    After the justification (`validation_error`), the checks of DOMAIN.md in
    order: `not_found`, `forbidden` (role not in the cycle's nominator_roles),
    `cycle_state`, `window_closed`, `invalid_nominee`, `self_nomination`,
    `ineligible_nominee` (naming the cycle won), `duplicate_nomination`,
    `quota_exceeded`. Rules 8 and 9 hold under
    concurrency (see the module docstring). Round trips: one when the cycle
    has no quota (checks, insert and audit row); with a quota, two (checks
    and lock; then counts, insert and audit row).
    """
    justification = clean_justification(justification)
    values = {
        "id": uuid.uuid4(),
        "cycle_id": cycle_id,
        "nominator_id": actor.id,
        "nominee_id": nominee_id,
        "justification": justification,
        "status": NominationStatus.pending.value,
        "withdrawn_at": None,
    }
    params = {
        **values,
        **audit.creation_params(
            session,
            actor_id=actor.id,
            action="nomination.create",
            entity_type="nomination",
            after={k: values[k] for k in NOMINATION_FIELDS},
        ),
        "role": actor.role,
        "now": clock.now(),
        "lock_key": _lock_key(cycle_id, actor.id),
        "actor_name": actor.display_name,
        "mail": notifications.mail_enabled(),
    }
    driver = driver_of(session)
    row = _CHECK_AND_CREATE.execute(driver, params).fetchone()
    if row is None:  # 1. no such cycle
        raise NotFound(f"cycle {cycle_id} not found")
    visible, may_nominate, published, window_open, nominee_active, not_self, won_in, status, quota, _, *rest = row
    cycle_name, nominee_name, nominee_team_name, team_manager_id, *stamps = rest
    if not visible:  # 1. (drafts: admins only)
        raise NotFound(f"cycle {cycle_id} not found")
    if not may_nominate:  # 2.
        raise Forbidden(f"role {actor.role} may not nominate in this cycle")
    if not published:  # 3.
        raise CycleState(f"cycle is {status}; nominations need a published cycle")
    if not window_open:  # 4.
        raise WindowClosed("the nomination window is not open")
    if not nominee_active:  # 5. unknown or inactive
        raise InvalidNominee(f"user {nominee_id} does not exist or is inactive")
    if not not_self:  # 6.
        raise SelfNomination("you cannot nominate yourself")
    if won_in is not None:  # 7.
        raise IneligibleNominee(
            f"{nominee_name} won {won_in!r}, within this cycle's cool-down of recent winners; "
            "they cannot be nominated in it"
        )
    if quota is not None:
        # The lock is held; a new statement, so it sees every committed competitor.
        same_nominee, total, *stamps = _COUNT_AND_CREATE.execute(driver, {**params, "quota": quota}).fetchone()
        if same_nominee:  # 8.
            raise DuplicateNomination("you already nominated this person in this cycle")
        if total >= quota:  # 9.
            raise QuotaExceeded(f"you have used all {quota} nominations of this cycle")
    if stamps[0] is None:  # 8. (no quota, or lost a race): nothing was written
        raise DuplicateNomination("you already nominated this person in this cycle")
    # The row as a persistent ORM instance with its names, without reloading it.
    names = {
        "cycle_name": cycle_name,
        "nominator_name": actor.display_name,
        "nominee_name": nominee_name,
        "nominee_team_name": nominee_team_name,
        "approvals_count": 0 if approves(actor, team_manager_id) else None,  # the nominator is not the nominee
    }
    return adopt(session, Nomination, {**values, **names, "created_at": stamps[0], "updated_at": stamps[1]})


# --------------------------------------------------------------------------- update, withdraw


def update_nomination(
    session: Session,
    actor: User,
    nomination_id: uuid.UUID,
    *,
    justification: str,
    clock: Clock,
) -> Nomination:
    """The nominator edits the justification. Writes `nomination.update` (none
    when the text is unchanged).

    Checks in order: `validation_error` (justification), `not_found` (cannot
    see it), `forbidden` (not the nominator), `cycle_state` (not published),
    `window_closed` (nomination window), `nomination_state` (not pending, or an
    approval is recorded). The row is locked, so an approval cannot slip in
    between the check and the write.
    """
    justification = clean_justification(justification)
    now = clock.now()
    nomination, cycle = load_nomination(session, actor, nomination_id, lock=True)
    if nomination.nominator_id != actor.id:
        raise Forbidden("only the nominator may edit a nomination")
    if cycle.status != CycleStatus.published:
        raise CycleState(f"cycle is {cycle.status}; nominations can be edited only while it is published")
    if not nominations_open(cycle, now):
        raise WindowClosed("the nomination window is not open")
    if nomination.status != NominationStatus.pending or session.scalar(
        select(exists().where(Approval.nomination_id == nomination.id))
    ):
        raise NominationState("a nomination can be edited only while pending and before any approval")
    if nomination.justification == justification:
        return nomination
    audit.change_and_record(
        session, actor, nomination, {"justification": justification},
        action="nomination.update", entity_type="nomination", fields=("justification",),
    )
    return nomination


def withdraw_nomination(
    session: Session, actor: User | None, nomination_id: uuid.UUID, *, clock: Clock
) -> Nomination:
    """The nominator or an admin withdraws a nomination. Writes
    `nomination.withdraw` (status and withdrawn_at from the clock).

    Checks in order: `not_found`, `forbidden` (neither nominator nor admin),
    already withdrawn → returned unchanged (no write, no audit row),
    `cycle_state` (the cycle is not published). Any other status may be
    withdrawn while the cycle is published. `actor` None is the command line.
    """
    now = clock.now()
    nomination, cycle = load_nomination(session, actor, nomination_id, lock=True)
    if actor is not None and actor.role != Role.admin and nomination.nominator_id != actor.id:
        raise Forbidden("only the nominator or an admin may withdraw a nomination")
    if nomination.status == NominationStatus.withdrawn:
        return nomination
    if cycle.status != CycleStatus.published:
        raise CycleState(f"cycle is {cycle.status}; nominations can be withdrawn only while it is published")
    audit.change_and_record(
        session, actor, nomination, {"status": NominationStatus.withdrawn.value, "withdrawn_at": now},
        action="nomination.withdraw", entity_type="nomination", fields=("status", "withdrawn_at"),
    )
    return nomination


# --------------------------------------------------------------------------- list


def list_nominations(
    session: Session,
    actor: User | None,
    cycle_id: uuid.UUID,
    *,
    status: NominationStatus | str | None = None,
    nominee_id: uuid.UUID | None = None,
    nominator_id: uuid.UUID | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Nomination]:
    """The cycle's nominations `actor` may see (`not_found` if the cycle is not
    visible), with their names, optionally filtered, oldest first, keyset-paged
    by (created_at, id). Visibility is one SQL filter."""
    cycle = get_cycle(session, actor, cycle_id)
    stmt = named(actor, Nomination.cycle_id == cycle.id, visible_clause(actor, cycle_status=cycle.status))
    if status is not None:
        stmt = stmt.where(Nomination.status == NominationStatus(status).value)
    if nominee_id is not None:
        stmt = stmt.where(Nomination.nominee_id == nominee_id)
    if nominator_id is not None:
        stmt = stmt.where(Nomination.nominator_id == nominator_id)
    return keyset_page(
        session, stmt, [asc(Nomination.created_at), asc(Nomination.id)], limit=limit, cursor=cursor
    )


def my_nominations(
    session: Session,
    actor: User,
    *,
    cycle_id: uuid.UUID | None = None,
    status: NominationStatus | str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Nomination]:
    """The nominations `actor` made (`GET /me/nominations`), with their names,
    newest first, keyset-paged by (created_at, id) descending; filters
    `cycle_id` and `status`. The nominator always sees their own nominations
    (a nominator is never the nominee), so no visibility filter is needed."""
    stmt = named(actor, Nomination.nominator_id == actor.id)
    if cycle_id is not None:
        stmt = stmt.where(Nomination.cycle_id == cycle_id)
    if status is not None:
        stmt = stmt.where(Nomination.status == NominationStatus(status).value)
    return keyset_page(
        session, stmt, [desc(Nomination.created_at), desc(Nomination.id)], limit=limit, cursor=cursor
    )


# --------------------------------------------------------------------------- the approver's queue


def _iso_utc(moment: ColumnElement[datetime]) -> ColumnElement[str]:
    """SQL: a timestamptz as the text the API's schemas give it (pydantic's
    ISO 8601 in UTC: `Z`, and `.ffffff` only when there are microseconds):
    one `to_char` with the fraction, and the fraction dropped when it is zero."""
    utc = func.timezone(sql_text("UTC"), moment, type_=DateTime)
    text_ = func.to_char(utc, sql_text('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), type_=Text)
    return func.replace(text_, sql_text(".000000Z"), sql_text("Z"), type_=Text)


_ME = bindparam("me", type_=Uuid)


def _caller(role: str) -> SimpleNamespace:
    """The caller as `in_queue`'s approver: their id and whether they are
    active as bind parameters, their role written into the statement (one
    compiled statement per role, a handful). PostgreSQL then drops the
    other roles' branch of `decidable_by` when it parses the statement, so
    a prepared statement's generic plan knows it is a manager's team filter
    (or an admin's none); with the role as a parameter that plan had to keep
    both, and was slower than planning every time."""
    return SimpleNamespace(id=_ME, role=sql_text(role), is_active=bindparam("me_active", type_=Boolean))


# The row's decisions so far (the sort key and `approvals_count`) and whether
# the caller's is among them, in one lateral join.
_QUEUE_DECISIONS = decisions_of(SimpleNamespace(id=_ME))
_DECIDED_BY_CALLER = _QUEUE_DECISIONS.c.mine > literal_column("0", Integer)

# The nominator's name as a scalar subquery, not a join: PostgreSQL then
# computes it for the page's rows only, after the sort and the limit, and
# plans one table fewer. Planning the queue's statement (it is planned for its
# parameters on every run) cost more than running it: 2.5 ms with the join,
# 0.9 ms without (bench/README.md, E).
_NOMINATOR_NAME = (
    select(_NOMINATOR.display_name).where(_NOMINATOR.id == Nomination.nominator_id).scalar_subquery()
)

# The queue's row: a Nomination's fields (API.md, in its order), the names
# beside the ids, and `approvals_count` (an approver without a conflict is
# never the nominee: they may always read it).
_QUEUE_FIELDS: dict[str, ColumnElement[Any]] = {
    "id": Nomination.id,
    "cycle_id": Nomination.cycle_id,
    "cycle_name": Cycle.name,
    "nominator_id": Nomination.nominator_id,
    "nominator_name": _NOMINATOR_NAME,
    "nominee_id": Nomination.nominee_id,
    "nominee_name": _NOMINEE.display_name,
    "nominee_team_name": NOMINEE_TEAM.name,
    "justification": Nomination.justification,
    "status": Nomination.status,
    "approvals_count": _QUEUE_DECISIONS.c.n,
    "created_at": Nomination.created_at,
    "updated_at": Nomination.updated_at,
    "withdrawn_at": Nomination.withdrawn_at,
}
# What a list of the queue shows (the web app's Approvals page), as columns:
# the page parses no id, time or text it does not show (0.2 ms of Python a page).
_QUEUE_LIST = ("id", "cycle_name", "nominator_name", "nominee_name", "nominee_team_name", "created_at",
               "approvals_count")
_QUEUE_ROW = [_QUEUE_FIELDS[name].label(name) for name in _QUEUE_LIST]
# The same row as the JSON text of `schemas.nominations.Nomination`, built by PostgreSQL.
_QUEUE_JSON = func.json_build_object(
    *(part for name, column in _QUEUE_FIELDS.items()
      for part in (sql_text(name), _iso_utc(column) if name.endswith("_at") else column))
).cast(Text)
_QUEUE_KEYS = [
    asc(Cycle.approval_closes_at), asc(_QUEUE_DECISIONS.c.n), asc(Nomination.created_at), asc(Nomination.id)
]


def caller_params(actor: User, now: datetime, cycle_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The parameters of the caller's queue's statements (`progress_select`)."""
    return {"me": actor.id, "me_active": actor.is_active, "now": now, "cycle_id": cycle_id}


def _queue(role: str, of_cycle: bool, *columns: Any) -> Select[Any]:
    """SELECT `columns` of the queue of a caller with `role` (`caller_params`),
    of one cycle or all: columns, not ORM entities, so a page builds nothing
    per row but the row."""
    stmt = (
        select(*columns)
        .select_from(Nomination)
        .join(Cycle, Cycle.id == Nomination.cycle_id)
        .join(_NOMINEE, _NOMINEE.id == Nomination.nominee_id)
        .outerjoin(NOMINEE_TEAM, NOMINEE_TEAM.id == _NOMINEE.team_id)
        .join(_QUEUE_DECISIONS, true())
        .where(*in_queue(_caller(role), _NOW, NOMINEE_TEAM.manager_id, decided=_DECIDED_BY_CALLER))
    )
    if of_cycle:
        stmt = stmt.where(Nomination.cycle_id == bindparam("cycle_id", type_=Uuid))
    return stmt


@functools.cache
def _queue_statement(role: str, of_cycle: bool, after: bool, as_json: bool) -> DriverStatement:
    columns = [_QUEUE_JSON] if as_json else _QUEUE_ROW
    return DriverStatement.of(keyset_statement(_queue(role, of_cycle, *columns), _QUEUE_KEYS, after=after))


def _queue_page(
    session: Session, actor: User, *, as_json: bool, cycle_id: uuid.UUID | None, limit: int, cursor: str | None,
    clock: Clock,
) -> Page[Any]:
    """One page of the caller's queue, compiled once and run on the driver
    (`plaudit.db.driver`), planned for its parameters as any other
    statement: whole rows (the sort keys last), or each item's JSON text."""
    params = {**caller_params(actor, clock.now(), cycle_id), **keyset_params(_QUEUE_KEYS, cursor, limit)}
    statement = _queue_statement(Role(actor.role).value, cycle_id is not None, cursor is not None, as_json)
    rows = statement.execute(driver_of(session), params, prepare=False).fetchall()
    return page_of_rows(rows, _QUEUE_KEYS, limit, whole_rows=not as_json)


QueueItem = namedtuple("QueueItem", _QUEUE_LIST)  # type: ignore[misc]


def approval_queue(
    session: Session,
    actor: User,
    *,
    cycle_id: uuid.UUID | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    clock: Clock,
) -> Page[Any]:
    """The approver's queue (DOMAIN.md; `GET /me/approvals`; `in_queue`),
    optionally of one cycle. Each item is a row with what a list of the
    queue shows (attributes, as on a `Nomination`): `id`, `cycle_name`,
    `nominator_name`, `nominee_name`, `nominee_team_name`, `created_at` and
    `approvals_count`; the API's page has every field (`approval_queue_json`).

    Order: the cycle's `approval_closes_at` (soonest first), then fewest
    decisions so far, then `created_at`, then id; keyset-paged on those four
    keys. One statement: the decisions are counted by a lateral join, which
    is also the page's sort key and `approvals_count`.
    """
    page = _queue_page(session, actor, as_json=False, cycle_id=cycle_id, limit=limit, cursor=cursor, clock=clock)
    return Page(items=[QueueItem._make(row[: len(_QUEUE_LIST)]) for row in page.items], next_cursor=page.next_cursor)


def approval_queue_json(
    session: Session,
    actor: User,
    *,
    cycle_id: uuid.UUID | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    clock: Clock,
) -> Page[str]:
    """`approval_queue` with each item the JSON text of a Nomination, built
    by PostgreSQL in the same statement, compiled once and run on the driver
    (`plaudit.db.driver`), planned for its parameters as any other: the API's
    page costs no Python object per row (bench/README.md, E)."""
    return _queue_page(session, actor, as_json=True, cycle_id=cycle_id, limit=limit, cursor=cursor, clock=clock)


@dataclass(frozen=True)
class QueueProgress:
    """How far `actor` is with what they may decide now: `decided` by them,
    `waiting` in their queue (the web app's "12 of 45 decided" is
    decided of decided + waiting)."""

    decided: int
    waiting: int

    @property
    def total(self) -> int:
        return self.decided + self.waiting


# The caller's own decision on the row's nomination, if any (at most one:
# approvals are unique per nomination and approver). The progress counts need
# no decision count, only this: as an outer join PostgreSQL hashes the
# caller's decisions once, where the queue's lateral count ran an aggregate
# per nomination (1.1 -> 0.45 ms of PostgreSQL's CPU for F's 500; bench/README.md, F).
_MY_DECISION = aliased(Approval, name="mine")
_DECIDED_BY_ME = _MY_DECISION.id.is_not(None)


def progress_select(role: str, *, of_cycle: bool = False) -> Select[Any]:
    """SELECT `decided`, `waiting` for a caller with `role` (`queue_progress`;
    parameters `caller_params`), for a statement of its own or inside
    another (the web header's counts)."""
    stmt = (
        select(
            func.count().filter(_DECIDED_BY_ME).label("decided"),
            func.count()
            .filter(~_DECIDED_BY_ME, Nomination.status == sql_text(NominationStatus.pending.value))
            .label("waiting"),
        )
        .select_from(Nomination)
        .join(Cycle, Cycle.id == Nomination.cycle_id)
        .join(_NOMINEE, _NOMINEE.id == Nomination.nominee_id)
        .outerjoin(NOMINEE_TEAM, NOMINEE_TEAM.id == _NOMINEE.team_id)
        .outerjoin(_MY_DECISION, and_(_MY_DECISION.nomination_id == Nomination.id, _MY_DECISION.approver_id == _ME))
        .where(
            *decidable_by(_caller(role), _NOW, NOMINEE_TEAM.manager_id),
            Nomination.status != sql_text(NominationStatus.withdrawn.value),
        )
    )
    if of_cycle:
        stmt = stmt.where(Nomination.cycle_id == bindparam("cycle_id", type_=Uuid))
    return stmt


@functools.cache
def _progress_statement(role: str, of_cycle: bool) -> DriverStatement:
    return DriverStatement.of(progress_select(role, of_cycle=of_cycle))


def queue_progress(
    session: Session, actor: User, *, cycle_id: uuid.UUID | None = None, clock: Clock
) -> QueueProgress:
    """Counts for the queue's progress line, in one statement compiled once
    per role (as the queue's): `waiting` is the queue's length (`in_queue`);
    `decided` the not-withdrawn nominations `actor` may decide now
    (`decidable_by`) and has decided (whatever their status became); the
    caller's decision is read in the same lateral join as the queue's
    (`decisions_of`).

    Prepared, unlike the queue's page: with the role in the statement, its
    generic plan is as good as one planned for the parameters (a count has no
    keyset bound to mislead it), and every page's header runs it, so
    planning it each time (0.3 ms of PostgreSQL's CPU) was a fifth of its
    cost (bench/README.md, F)."""
    params = caller_params(actor, clock.now(), cycle_id)
    statement = _progress_statement(Role(actor.role).value, cycle_id is not None)
    done, waiting = statement.execute(driver_of(session), params).fetchone()
    return QueueProgress(decided=done, waiting=waiting)


__all__ = [
    "QueueProgress",
    "approval_queue",
    "approval_queue_json",
    "approver_clause",
    "approves",
    "caller_params",
    "can_see_nomination",
    "clean_justification",
    "create_nomination",
    "get_nomination",
    "is_approver",
    "list_nominations",
    "load_nomination",
    "may_read_approvals",
    "my_nominations",
    "named",
    "progress_select",
    "queue_progress",
    "reads_approvals_clause",
    "update_nomination",
    "visible_clause",
    "withdraw_nomination",
]
