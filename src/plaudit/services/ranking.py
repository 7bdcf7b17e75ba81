"""Scoring, ranking preview, idempotent finalization, results, award history, export.

The database does the arithmetic: `ranking_query` is one set-based SELECT,
and finalization is one `INSERT INTO cycle_results ... SELECT` over it, so the
Python side holds no per-nominee state whatever the cycle's size.

Scoring (DOMAIN.md "Scoring and ranking"):

- only `approved` nominations count, and only their `approve` approvals'
  ratings;
- `mean(n, c)` = mean of the ratings for criterion `c` over the approvals of `n`;
- `criterion_mean(u, c)` = mean of `mean(n, c)` over the nominee's approved
  nominations `N(u)`;
- `score(u)` = `Σ_c weight(c) × criterion_mean(u, c)` (= the mean of `score(n)`);
- `approved_nominations(u)` = `|N(u)|`.

Exactness. PostgreSQL's `avg()` over numeric returns a value-dependent scale
and every division of a repeating fraction is cut somewhere, so a score that
is exactly `x.xxxxxx5` could come out as `x.xxxxxx4999…` and round the wrong
way. The query therefore never divides until the very end: with `D` the least
common multiple of every rating count `k(n, c)` in the cycle, each mean is an
exact fraction `num / (D × |N(u)|)` where `num = Σ_n total(n, c) × D / k(n, c)`
is an exact (4-place) numeric. The one division is the rounding itself,
round half-up to 6 places done in integer arithmetic:
`floor((2·10⁶·num + den) / (2·den)) / 10⁶` — the same value as
`round(num / den, 6)` would give if `num / den` were exact. The score is
rounded once from its exact value (not summed from rounded criterion means),
and ranking compares the rounded score, as the spec requires.

Decision — a criterion with no ratings for one of a nominee's approved
nominations (impossible through the services: approving requires a rating for
every criterion, and criteria are frozen once published) contributes nothing:
that `mean(n, c)` counts as 0 in the sum while `|N(u)|` stays the divisor, so
`score(u) = Σ weight × criterion_mean` still holds. Every criterion of the
cycle appears in each breakdown (mean `"0.000000"` when it has no ratings).

Ranking: competition rank ("1, 2, 2, 4") over score DESC, approved
nominations DESC; within a rank, display name then id; winners are the
nominees with `rank ≤ award_slots`, so a tie at the boundary wins together.
"""

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Numeric,
    Text,
    TextClause,
    TextualSelect,
    Uuid,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Bundle, Session

from plaudit.clock import Clock
from plaudit.errors import ApprovalsOpen, CycleState, NotFinalized, NotFound
from plaudit.models import Criterion, Cycle, CycleResult, Nomination, Team, User
from plaudit.models.enums import CycleStatus, NominationStatus, Role
from plaudit.paging import Page, desc, keyset_page
from plaudit.schemas.results import Award, ResultItem, Results
from plaudit.services import audit, notifications
from plaudit.services.cycles import get_cycle
from plaudit.services.results_digest import inputs_digest
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


def _round6(num: str, den: str) -> str:
    """SQL: `num / den` rounded half-up to 6 places, exactly (num ≥ 0, den > 0)."""
    return f"(div(({num}) * 2000000 + ({den}), 2 * ({den})) * 0.000001)::numeric(18, 6)"


RANKING_SQL = f"""
WITH RECURSIVE
crit AS (
    SELECT c.id, c.name, c.weight, c.position
    FROM criteria c
    WHERE c.cycle_id = :cycle_id
),
noms AS (
    SELECT n.id, n.nominee_id
    FROM nominations n
    WHERE n.cycle_id = :cycle_id AND n.status = 'approved'
),
per_nomination AS (
    -- mean(n, c) = total / k over the approve approvals of n
    SELECT n.nominee_id, r.criterion_id,
           sum(r.value)::numeric AS total, count(*)::numeric AS k
    FROM noms n
    JOIN approvals a ON a.nomination_id = n.id AND a.decision = 'approve'
    JOIN approval_ratings r ON r.approval_id = a.id
    JOIN crit c ON c.id = r.criterion_id
    GROUP BY n.id, n.nominee_id, r.criterion_id
),
ks AS (
    SELECT d.k, row_number() OVER (ORDER BY d.k) AS i
    FROM (SELECT DISTINCT k FROM per_nomination) d
),
lcm_fold (i, d) AS (
    SELECT 0::bigint, 1::numeric
    UNION ALL
    SELECT ks.i, lcm(f.d, ks.k) FROM lcm_fold f JOIN ks ON ks.i = f.i + 1
),
common AS (
    -- D: the least common multiple of every rating count in the cycle
    SELECT f.d FROM lcm_fold f ORDER BY f.i DESC LIMIT 1
),
nominees AS (
    SELECT n.nominee_id, count(*) AS approved_nominations, common.d AS d,
           common.d * count(*) AS den
    FROM noms n CROSS JOIN common
    GROUP BY n.nominee_id, common.d
),
per_criterion AS (
    -- criterion_mean(u, c) = num / den, exactly
    SELECT u.nominee_id, u.den, c.id AS criterion_id, c.name, c.weight, c.position,
           coalesce(sum(p.total * div(u.d, p.k)), 0) AS num
    FROM nominees u
    CROSS JOIN crit c
    LEFT JOIN per_nomination p ON p.nominee_id = u.nominee_id AND p.criterion_id = c.id
    GROUP BY u.nominee_id, u.den, u.d, c.id, c.name, c.weight, c.position
),
scored AS (
    SELECT u.nominee_id, u.approved_nominations,
           {_round6("coalesce(sum(pc.weight * pc.num), 0)", "u.den")} AS score,
           coalesce(
               jsonb_agg(
                   jsonb_build_object(
                       'criterion_id', pc.criterion_id,
                       'name', pc.name,
                       'weight', (pc.weight::numeric(5, 4))::text,
                       'mean', ({_round6("pc.num", "pc.den")})::text
                   )
                   ORDER BY pc.position, pc.name, pc.criterion_id
               ) FILTER (WHERE pc.criterion_id IS NOT NULL),
               '[]'::jsonb
           ) AS criteria
    FROM nominees u
    LEFT JOIN per_criterion pc ON pc.nominee_id = u.nominee_id
    GROUP BY u.nominee_id, u.approved_nominations, u.den
),
ranked AS (
    SELECT s.*, rank() OVER (ORDER BY s.score DESC, s.approved_nominations DESC) AS rank
    FROM scored s
)
SELECT r.nominee_id,
       usr.display_name AS nominee_name,
       usr.team_id,
       r.rank::integer AS rank,
       r.score,
       r.approved_nominations::integer AS approved_nominations,
       r.rank <= cy.award_slots AS is_winner,
       r.criteria
FROM ranked r
JOIN users usr ON usr.id = r.nominee_id
JOIN cycles cy ON cy.id = :cycle_id
ORDER BY r.rank, usr.display_name, r.nominee_id
"""


def ranking_query(cycle_id: uuid.UUID) -> TextualSelect:
    """The cycle's live ranking as ONE SELECT, one row per nominee with at least
    one approved nomination, in ranking order (rank, display name, id).

    Columns: nominee_id, nominee_name (current display name), team_id (the
    nominee's current team), rank, score (numeric, 6 places), approved_nominations,
    is_winner, criteria (JSONB `[{criterion_id, name, weight: "0.2500",
    mean: "4.000000"}]` in criterion order: position, name, id).
    """
    clause: TextClause = text(RANKING_SQL).bindparams(bindparam("cycle_id", cycle_id, type_=Uuid))
    return clause.columns(
        nominee_id=Uuid,
        nominee_name=Text,
        team_id=Uuid,
        rank=Integer,
        score=Numeric(18, 6),
        approved_nominations=Integer,
        is_winner=Boolean,
        criteria=JSONB,
    )


def _item(row: Any) -> ResultItem:
    return ResultItem.model_validate(row, from_attributes=True)


def preview(session: Session, actor: User | None, cycle_id: uuid.UUID, *, clock: Clock) -> Results:
    """The ranking as it would be if the cycle were finalized now (admin).

    Published cycles only (`cycle_state` otherwise). Computed live; writes nothing.
    `clock` is accepted for the uniform signature: the ranking does not depend
    on the time (what counts is the nominations' status now).
    """
    require_admin(actor)
    cycle = get_cycle(session, actor, cycle_id)
    if cycle.status != CycleStatus.published:
        raise CycleState(f"only a published cycle has a preview; this one is {cycle.status}")
    _ranking_memory(session)
    rows = session.execute(ranking_query(cycle.id)).all()
    return _results(session, cycle, [_item(r) for r in rows])


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

    Writes one `cycle_results` row per ranked nominee with ONE
    `INSERT ... SELECT` over `ranking_query` (name and team frozen as they are
    now), sets the cycle `finalized` with `finalized_at = clock.now()` and its
    `inputs_digest` (`plaudit.services.results_digest`), writes one
    `cycle.finalize` audit row (status, finalized_at and inputs_digest before
    and after, plus `ranked` and `winners` counts), and tells the winners and
    their managers (`notifications.cycle_finalized`). Returns the finalized cycle;
    its results are read back from `cycle_results` by the caller, so the first
    call and every repeat get the same body. Python holds no per-nominee state:
    memory is flat in the cycle's size.
    """
    require_admin(actor)
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
    ranking = ranking_query(cycle.id).subquery("ranking")
    columns = [
        "id", "cycle_id", "nominee_id", "nominee_name", "team_id", "rank", "score",
        "approved_nominations", "is_winner", "criteria",
    ]
    session.execute(
        insert(CycleResult).from_select(
            columns,
            select(
                func.gen_random_uuid(),
                literal(cycle.id, Uuid),
                ranking.c.nominee_id,
                ranking.c.nominee_name,
                ranking.c.team_id,
                ranking.c.rank,
                ranking.c.score,
                ranking.c.approved_nominations,
                ranking.c.is_winner,
                ranking.c.criteria,
            ),
            include_defaults=False,
        )
    )
    ranked, winners = session.execute(
        select(func.count(), func.count().filter(CycleResult.is_winner)).where(CycleResult.cycle_id == cycle.id)
    ).one()

    audit.change_and_record(
        session,
        actor,
        cycle,
        {
            "status": CycleStatus.finalized.value,
            "finalized_at": now,
            "inputs_digest": inputs_digest(session, cycle.id),
        },
        action="cycle.finalize",
        entity_type="cycle",
        fields=("status", "finalized_at", "inputs_digest"),
        extra={"ranked": ranked, "winners": winners},
    )
    notifications.cycle_finalized(session, cycle)
    return cycle


def stored_results(
    session: Session, cycle: Cycle, *, winners_only: bool = False, team_id: uuid.UUID | None = None
) -> Results:
    """The frozen results of a finalized or archived cycle, in ranking order
    (rank, nominee name, nominee id). No access checks: callers do them."""
    stmt = select(CycleResult).where(CycleResult.cycle_id == cycle.id)
    if winners_only:
        stmt = stmt.where(CycleResult.is_winner)
    if team_id is not None:
        stmt = stmt.where(CycleResult.team_id == team_id)
    stmt = stmt.order_by(CycleResult.rank, CycleResult.nominee_name, CycleResult.nominee_id)
    rows = session.scalars(stmt).all()
    return _results(session, cycle, [_item(r) for r in rows])


def _results(session: Session, cycle: Cycle, items: list[ResultItem]) -> Results:
    """`items` under the cycle's heading: its name, finalization time (null in
    a preview), award slots and undecided nominations. A finalized cycle's
    nominations are read-only, so counting them now counts them as they were."""
    pending = session.scalar(
        select(func.count()).where(
            Nomination.cycle_id == cycle.id, Nomination.status == NominationStatus.pending.value
        )
    )
    return Results(
        cycle_id=cycle.id,
        cycle_name=cycle.name,
        finalized_at=cycle.finalized_at,
        award_slots=cycle.award_slots,
        pending_nominations=pending,
        inputs_digest=cycle.inputs_digest,
        items=items,
    )


# The ranking sorts and aggregates every rating of the cycle; at the default
# work_mem (4 MB) a large cycle spills to disk. Raised for this transaction only.
RANKING_WORK_MEM = "64MB"


def _ranking_memory(session: Session) -> None:
    session.execute(text(f"SET LOCAL work_mem = '{RANKING_WORK_MEM}'"))


def results_items_json(cycle_id: uuid.UUID, *, winners_only: bool = False, team_id: uuid.UUID | None = None):
    """SQL: each stored result row as the JSON text of a `ResultItem`, built by
    PostgreSQL (score already 6-place text, the breakdown stored as JSON), in
    ranking order. Lets large results stream without a Python object per row."""
    r = CycleResult
    stmt = select(
        func.json_build_object(
            "rank", r.rank,
            "nominee_id", r.nominee_id,
            "nominee_name", r.nominee_name,
            "team_id", r.team_id,
            "score", cast(r.score, Text),
            "approved_nominations", r.approved_nominations,
            "is_winner", r.is_winner,
            "spread", None,
            "tie_break", None,
            "criteria", r.criteria,
        ).cast(Text)
    ).where(r.cycle_id == cycle_id)
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
    if user is None or not _may_see_awards(session, actor, user):
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


def _may_see_awards(session: Session, actor: User | None, user: User) -> bool:
    if actor is None or actor.role == Role.admin or actor.id == user.id:
        return True
    if user.team_id is None:
        return False
    manager_id = session.scalar(select(Team.manager_id).where(Team.id == user.team_id))
    return manager_id is not None and manager_id == actor.id
