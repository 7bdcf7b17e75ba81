"""Ranking preview, what-if, idempotent finalization, results, award history, export.

The database does the arithmetic: the ranking is one set-based SELECT
(`plaudit.services.scoring`, where the scoring rules and their exactness are
written down), and finalization is one statement that inserts that ranking
into `cycle_results` and computes the inputs digest from the same pass over
the ratings, so the Python side holds no per-nominee state whatever the
cycle's size.
"""

import csv
import io
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Text, TextClause, and_, cast, func, null, select, text
from sqlalchemy.orm import Bundle, Session

from plaudit.clock import Clock
from plaudit.db.session import wait_for_locks
from plaudit.errors import ApprovalsOpen, CycleState, NotFinalized, NotFound, WeightsInvalid
from plaudit.models import Criterion, Cycle, CycleResult, Nomination, Team, User
from plaudit.models.enums import CycleStatus, NominationStatus, Role
from plaudit.paging import Page, desc, keyset_page
from plaudit.schemas.results import Award, ResultItem, Results
from plaudit.services import audit, notifications
from plaudit.services.cycles import format_weight, get_cycle
from plaudit.services.results_digest import bound_with_head, digest_sql
from plaudit.services.scoring import LISTED, Scoring, ranking_ctes, ranking_query, scoring_of
from plaudit.services.users import require_admin

FINISHED = (CycleStatus.finalized.value, CycleStatus.archived.value)

CSV_COLUMNS = (
    "rank",
    "nominee_id",
    "nominee_name",
    "nominee_email",
    "team_name",
    "score",
    "approved_nominations",
    "is_winner",
)


# What a result row keeps of the ranking.
RANKED_COLUMNS = (
    "nominee_id", "nominee_name", "team_id", "rank", "score", "approved_nominations", "is_winner", "spread",
    "tie_break", "criteria",
)


def _item(row: Any) -> ResultItem:
    return ResultItem.model_validate(row, from_attributes=True)


def preview(session: Session, actor: User | None, cycle_id: uuid.UUID, *, clock: Clock) -> Results:
    """`preview_json` as a `Results` object. `clock` is accepted for the
    uniform signature: the ranking does not depend on the time (what counts
    is the nominations' status now)."""
    return Results.model_validate_json(preview_json(session, actor, cycle_id))


def preview_json(session: Session, actor: User | None, cycle_id: uuid.UUID) -> str:
    """The ranking as it would be if the cycle were finalized now (admin), as
    the JSON text of `Results`. Published cycles only (`cycle_state`
    otherwise). Computed live; writes nothing."""
    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id)
    if cycle.status != CycleStatus.published:
        raise CycleState(f"only a published cycle has a preview; this one is {cycle.status}")
    return _live_json(session, cycle, scoring_of(session, cycle))


def what_if(
    session: Session,
    actor: User | None,
    cycle_id: uuid.UUID,
    *,
    weights: Mapping[uuid.UUID, Decimal] | None = None,
    normalization: str | None = None,
) -> str:
    """The cycle's ranking with other weights and/or another normalisation
    (admin; DOMAIN.md "What-if"), as the JSON text of `Results` built by
    PostgreSQL. Stores nothing, audits nothing.

    Checks in order: `forbidden`, `not_found`, `cycle_state` (a draft: there
    is nothing to rank; published, finalized and archived cycles are
    allowed), then `weights_invalid` unless the weights name every criterion
    of the cycle, nothing else, and sum to exactly 1. Either may be left out:
    the cycle's own weights, or its own normalisation, are used. On a
    finalized cycle this recomputes from its (read-only) approvals; the
    heading's `finalized_at` and `inputs_digest` are null, as in any preview.
    """
    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id)
    if cycle.status == CycleStatus.draft:
        raise CycleState("a draft has no ranking to try other weights on; publish it first")
    scoring = scoring_of(session, cycle)
    if weights is not None:
        _check_weights(scoring, weights)
    return _live_json(session, cycle, scoring.with_changes(weights=weights, normalization=normalization))


def _check_weights(scoring: Scoring, weights: Mapping[uuid.UUID, Decimal]) -> None:
    names = {c.id: c.name for c in scoring.criteria}
    missing = [names[i] for i in names if i not in weights]
    unknown = sorted(str(i) for i in weights if i not in names)
    if missing or unknown:
        parts = [f"no weight for {', '.join(missing)}"] if missing else []
        parts += [f"not criteria of this cycle: {', '.join(unknown)}"] if unknown else []
        raise WeightsInvalid("weights must name every criterion of the cycle once: " + "; ".join(parts))
    for value in weights.values():
        if not (0 < value <= 1 and value == value.quantize(Decimal("0.0001"))):
            raise WeightsInvalid(f"weight {value} is not between 0 and 1 with at most 4 decimal places")
    total = sum(weights.values(), Decimal(0))
    if total != 1:
        raise WeightsInvalid(f"weights sum to {format_weight(total)}, not 1")


def _live_json(session: Session, cycle: Cycle, scoring: Scoring) -> str:
    """The live ranking under `scoring` as `Results` JSON text: each item's
    JSON built by PostgreSQL in the ranking statement's own query, the
    heading's `finalized_at` and `inputs_digest` null."""
    _ranking_memory(session)
    live = ranking_query(scoring).subquery("live")
    items = session.scalars(
        select(item_json(live.c)).order_by(live.c.rank, live.c.nominee_name, live.c.nominee_id)
    ).all()
    head = _results(session, cycle, [], preview=True).model_dump_json()
    return head[: -len("[]}")] + "[" + ",".join(items) + "]}"


def finalize(session: Session, actor: User | None, cycle_id: uuid.UUID, *, clock: Clock) -> Results:
    """`finalize_cycle`, then its full results as one `Results` object (for
    callers that want it in memory; HTTP streams them with `results_chunks`)."""
    return stored_results(session, finalize_cycle(session, actor, cycle_id, clock=clock))


def finalize_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID, *, clock: Clock) -> Cycle:
    """Finalize a published cycle whose approval window has closed (admin).

    Order: admin (`forbidden`), the cycle (`not_found`; locked FOR UPDATE so
    concurrent finalizes queue behind each other), then state: an already
    finalized or archived cycle returns its stored results and writes nothing
    (idempotent, no audit row); a draft is `cycle_state`; `now <
    approval_closes_at` is `approvals_open` (at exactly `approval_closes_at`
    finalizing is allowed: the window is half-open).

    Writes one `cycle_results` row per ranked nominee and computes the
    cycle's `inputs_digest` (`plaudit.services.results_digest`) in ONE
    statement (`finalize_statement`: name and team frozen as they are now),
    sets the cycle `finalized` with `finalized_at = clock.now()` and that
    digest, writes one
    `cycle.finalize` audit row (status, finalized_at and inputs_digest before
    and after, plus `ranked` and `winners` counts), and tells the winners and
    their managers (`notifications.cycle_finalized`). Returns the finalized cycle;
    its results are read back from `cycle_results` by the caller, so the first
    call and every repeat get the same body. Python holds no per-nominee state:
    memory is flat in the cycle's size.
    """
    require_admin(actor)
    wait_for_locks(session)  # concurrent finalizes queue (DOMAIN.md), past the server's 1 s lock timeout
    cycle = get_cycle(session, actor, cycle_id, lock="update")
    if cycle.status in FINISHED:
        return cycle
    if cycle.status != CycleStatus.published:
        raise CycleState(f"only a published cycle can be finalized; this one is {cycle.status}")
    now = clock.now()
    if now < cycle.approval_closes_at:
        raise ApprovalsOpen(
            f"the approval window closes at {cycle.approval_closes_at.isoformat()}; finalize after that"
        )

    _ranking_memory(session)
    ranked, winners, digest = session.execute(finalize_statement(scoring_of(session, cycle))).one()

    audit.change_and_record(
        session,
        actor,
        cycle,
        {
            "status": CycleStatus.finalized.value,
            "finalized_at": now,
            "inputs_digest": digest,
        },
        action="cycle.finalize",
        entity_type="cycle",
        fields=("status", "finalized_at", "inputs_digest"),
        extra={"ranked": ranked, "winners": winners},
    )
    notifications.cycle_finalized(session, cycle)
    return cycle


def finalize_statement(scoring: Scoring) -> TextClause:
    """SQL: the cycle's ranking inserted into `cycle_results`, and its inputs
    digest, in one statement with one pass over the ratings: both read the
    ranking's `rated` rows (one per counted approval). Returns one row:
    `ranked` (result rows written), `winners`, `inputs_digest`."""
    count, normalization = len(scoring.criteria), scoring.normalization
    columns = ", ".join(RANKED_COLUMNS)
    sql = f"""{ranking_ctes(count, normalization)},
listed AS (
{LISTED}
),
inserted AS (
    INSERT INTO cycle_results (id, cycle_id, {columns})
    SELECT gen_random_uuid(), :cycle_id, {columns} FROM listed
    RETURNING is_winner
)
SELECT (SELECT count(*) FROM inserted) AS ranked,
       (SELECT count(*) FROM inserted WHERE is_winner) AS winners,
       ({digest_sql(scoring)}) AS inputs_digest"""
    return bound_with_head(text(sql), scoring).columns(ranked=Integer, winners=Integer, inputs_digest=Text)


def stored_results(
    session: Session, cycle: Cycle, *, winners_only: bool = False, team_id: uuid.UUID | None = None
) -> Results:
    """The frozen results of a finalized or archived cycle, in ranking order
    (rank, nominee name, nominee id). `winners_only` is the non-admin view:
    the winners, without `spread` and `tie_break`. No access checks: callers do them."""
    stmt = select(CycleResult).where(CycleResult.cycle_id == cycle.id)
    if winners_only:
        stmt = stmt.where(CycleResult.is_winner)
    if team_id is not None:
        stmt = stmt.where(CycleResult.team_id == team_id)
    stmt = stmt.order_by(CycleResult.rank, CycleResult.nominee_name, CycleResult.nominee_id)
    items = [_item(r) for r in session.scalars(stmt).all()]
    if winners_only:
        items = [item.model_copy(update={"spread": None, "tie_break": None}) for item in items]
    return _results(session, cycle, items)


def _results(session: Session, cycle: Cycle, items: list[ResultItem], *, preview: bool = False) -> Results:
    """`items` under the cycle's heading: its name, finalization time and
    inputs digest (null in a `preview`), award slots and undecided
    nominations. A finalized cycle's nominations are read-only, so counting
    them now counts them as they were."""
    pending = session.scalar(
        select(func.count()).where(
            Nomination.cycle_id == cycle.id, Nomination.status == NominationStatus.pending.value
        )
    )
    return Results(
        cycle_id=cycle.id,
        cycle_name=cycle.name,
        finalized_at=None if preview else cycle.finalized_at,
        award_slots=cycle.award_slots,
        pending_nominations=pending,
        inputs_digest=None if preview else cycle.inputs_digest,
        items=items,
    )


# The ranking sorts and aggregates every rating of the cycle; at the default
# work_mem (4 MB) a large cycle spills to disk. Raised for this transaction only.
RANKING_WORK_MEM = "64MB"


def _ranking_memory(session: Session) -> None:
    session.execute(text(f"SET LOCAL work_mem = '{RANKING_WORK_MEM}'"))


def item_json(c: Any, *, judging: bool = True) -> Any:
    """SQL: one ranked row as the JSON text of a `ResultItem`, built by
    PostgreSQL from columns `c` (a stored result row's, or the live ranking's:
    score and spread numeric, the breakdown JSON). Without `judging` (the
    non-admin view) `spread` and `tie_break` are null."""
    return func.json_build_object(
        "rank", c.rank,
        "nominee_id", c.nominee_id,
        "nominee_name", c.nominee_name,
        "team_id", c.team_id,
        "score", cast(c.score, Text),
        "approved_nominations", c.approved_nominations,
        "is_winner", c.is_winner,
        "spread", cast(c.spread, Text) if judging else null(),
        "tie_break", c.tie_break if judging else null(),
        "criteria", c.criteria,
    ).cast(Text)


def results_items_json(cycle_id: uuid.UUID, *, winners_only: bool = False, team_id: uuid.UUID | None = None):
    """SQL: each stored result row as `item_json`, in ranking order;
    `winners_only` as in `stored_results`. Lets large results stream without
    a Python object per row."""
    r = CycleResult
    stmt = select(item_json(r, judging=not winners_only)).where(r.cycle_id == cycle_id)
    if winners_only:
        stmt = stmt.where(r.is_winner)
    if team_id is not None:
        stmt = stmt.where(r.team_id == team_id)
    return stmt.order_by(r.rank, r.nominee_name, r.nominee_id)


def results_chunks(
    session: Session, cycle: Cycle, *, winners_only: bool = False, team_id: uuid.UUID | None = None,
    batch: int = 1000,
) -> Iterator[str]:
    """A finalized cycle's `Results` as JSON text, streamed in chunks (the same
    document `stored_results(...).model_dump_json()` describes). No access checks."""
    head = _results(session, cycle, []).model_dump_json()
    yield head[: -len("[]}")] + "["
    stmt = results_items_json(cycle.id, winners_only=winners_only, team_id=team_id)
    separator = ""
    for part in session.execute(stmt.execution_options(yield_per=batch)).scalars().partitions():
        yield separator + ",".join(part)
        separator = ","
    yield "]}"


def results_stream(
    factory: Callable[[], Session], cycle: Cycle, *, winners_only: bool = False, team_id: uuid.UUID | None = None
) -> Iterator[str]:
    """`results_chunks` in a session of its own, for an HTTP body streamed after
    the request's session has committed and closed. Results are frozen once
    finalized, so this later read sees what the request's checks saw."""
    with factory() as session:
        yield from results_chunks(session, cycle, winners_only=winners_only, team_id=team_id)


def _finished_cycle(session: Session, actor: User | None, cycle_id: uuid.UUID) -> Cycle:
    cycle = get_cycle(session, actor, cycle_id)
    if cycle.status not in FINISHED:
        raise NotFinalized(f"cycle {cycle_id} is {cycle.status}; results exist once it is finalized")
    return cycle


def get_results(
    session: Session, actor: User | None, cycle_id: uuid.UUID, *, team_id: uuid.UUID | None = None
) -> Results:
    """A finalized or archived cycle's results.

    The cycle must be visible (`not_found`, drafts included for non-admins),
    then finalized (`not_finalized`). Admins (and the command line, actor None)
    get every ranked nominee; everyone else the winners only. `team_id` keeps
    the rows of nominees who were in that team at finalization. Writes nothing.
    """
    cycle, winners_only = readable_results(session, actor, cycle_id)
    return stored_results(session, cycle, winners_only=winners_only, team_id=team_id)


def readable_results(session: Session, actor: User | None, cycle_id: uuid.UUID) -> tuple[Cycle, bool]:
    """The checks of `get_results`: the finished cycle, and whether `actor`
    sees the winners only (everyone but admins and the command line)."""
    cycle = _finished_cycle(session, actor, cycle_id)
    return cycle, not (actor is None or actor.role == Role.admin)


def require_export(session: Session, actor: User | None, cycle_id: uuid.UUID) -> Cycle:
    """The checks behind a CSV export: admin (`forbidden`; actor None = command
    line), the cycle (`not_found`), finalized or archived (`not_finalized`)."""
    require_admin(actor)
    return _finished_cycle(session, actor, cycle_id)


def export_csv(
    session: Session, actor: User | None, cycle_id: uuid.UUID, *, team_id: uuid.UUID | None = None
) -> Iterator[str]:
    """The full results as CSV text chunks (admin; actor None = command line).

    The checks (`require_export`) run now; the returned iterator then streams
    the rows with a server-side cursor, so `session` must stay open while it
    is consumed. Writes nothing.
    """
    cycle = require_export(session, actor, cycle_id)
    return csv_chunks(session, cycle.id, team_id=team_id)


def csv_stream(
    factory: Callable[[], Session], cycle_id: uuid.UUID, *, team_id: uuid.UUID | None = None
) -> Iterator[str]:
    """`csv_chunks` in a session of its own, for an HTTP body streamed after the
    request's session has closed (call `require_export` first). A finalized
    cycle's results are frozen, so this later snapshot reads what the checks saw."""
    with factory() as session:
        yield from csv_chunks(session, cycle_id, team_id=team_id)


def csv_chunks(
    session: Session, cycle_id: uuid.UUID, *, team_id: uuid.UUID | None = None, batch: int = 500
) -> Iterator[str]:
    """Stream a cycle's stored results as CSV (header first), no access checks.

    Columns: rank, nominee_id, nominee_name, nominee_email, team_name, score,
    approved_nominations, is_winner (`true`/`false`), then one column per
    criterion (display order), named after it, holding the nominee's mean.
    Decisions: `nominee_name` is the name frozen at finalization; `team_name`
    is the name of the team the nominee belonged to at finalization
    (`cycle_results.team_id`), as that team is named now (empty when the
    nominee had no team); the email is the user's (emails never change).
    Every text cell, criterion names in the header included, is
    `spreadsheet_safe`.
    """
    criteria = session.execute(
        select(Criterion.id, Criterion.name)
        .where(Criterion.cycle_id == cycle_id)
        .order_by(Criterion.position, Criterion.name, Criterion.id)
    ).all()
    stmt = (
        select(
            CycleResult.rank,
            CycleResult.nominee_id,
            CycleResult.nominee_name,
            User.email,
            Team.name,
            CycleResult.score,
            CycleResult.approved_nominations,
            CycleResult.is_winner,
            CycleResult.criteria,
        )
        .join(User, User.id == CycleResult.nominee_id)
        .outerjoin(Team, Team.id == CycleResult.team_id)
        .where(CycleResult.cycle_id == cycle_id)
        .order_by(CycleResult.rank, CycleResult.nominee_name, CycleResult.nominee_id)
    )
    if team_id is not None:
        stmt = stmt.where(CycleResult.team_id == team_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*CSV_COLUMNS, *(spreadsheet_safe(name) for _, name in criteria)])
    result = session.execute(stmt.execution_options(yield_per=batch))
    for partition in result.partitions():
        for rank, nominee_id, name, email, team_name, score, approved, winner, breakdown in partition:
            means = {c["criterion_id"]: c["mean"] for c in breakdown}
            writer.writerow(
                [rank, nominee_id, spreadsheet_safe(name), spreadsheet_safe(email), spreadsheet_safe(team_name or ""),
                 f"{score:.6f}", approved, "true" if winner else "false",
                 *(means.get(str(criterion_id), "") for criterion_id, _ in criteria)]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


# A cell a spreadsheet would read as a formula (or, after a tab or carriage
# return, as the start of one): `=HYPERLINK(...)`, `+1+1`, `-2+3`, `@SUM(...)`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text_: str) -> str:
    """`text_` with a leading `'` when it starts like a formula (API.md; OWASP's
    CSV injection advice), so a spreadsheet shows it as text and runs nothing."""
    return "'" + text_ if text_.startswith(FORMULA_STARTS) else text_


@dataclass(frozen=True)
class _AwardRow:
    cycle_id: uuid.UUID
    cycle_name: str
    finalized_at: Any
    rank: int
    score: Any
    approved_nominations: int
    is_winner: bool


def list_awards(
    session: Session,
    actor: User | None,
    user_id: uuid.UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Award]:
    """A user's award history: their result rows in finalized and archived
    cycles (winning or not), newest first (finalized_at DESC, cycle id DESC).

    Visible to the user, admins, the command line (actor None), and the
    `manager_id` of the user's current team; anyone else, and an unknown
    user, gets `not_found`. Writes nothing.
    """
    user = session.get(User, user_id)
    if user is None or not may_see_awards(session, actor, user):
        raise NotFound(f"user {user_id} not found")
    award = Bundle(
        "award",
        CycleResult.cycle_id,
        Cycle.name.label("cycle_name"),
        Cycle.finalized_at,
        CycleResult.rank,
        CycleResult.score,
        CycleResult.approved_nominations,
        CycleResult.is_winner,
    )
    stmt = (
        select(award)
        .join(Cycle, Cycle.id == CycleResult.cycle_id)
        .where(and_(CycleResult.nominee_id == user.id, Cycle.status.in_(FINISHED)))
    )
    page = keyset_page(
        session, stmt, [desc(Cycle.finalized_at), desc(Cycle.id)], limit=limit, cursor=cursor
    )
    return Page(
        items=[Award.model_validate(_AwardRow(*row)) for row in page.items], next_cursor=page.next_cursor
    )


def may_see_awards(session: Session, actor: User | None, user: User) -> bool:
    if actor is None or actor.role == Role.admin or actor.id == user.id:
        return True
    if user.team_id is None:
        return False
    manager_id = session.scalar(select(Team.manager_id).where(Team.id == user.team_id))
    return manager_id is not None and manager_id == actor.id
