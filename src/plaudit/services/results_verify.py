"""`plaudit results verify`: recompute a finalized cycle's ranking and
inputs digest from the stored criteria and approvals, and compare them with
what finalize stored (DOMAIN.md "Finalization").

Names are the frozen ones. Within a rank, nominees are listed by display
name, and `tie_break` (`name` for every nominee of a tie but the first) says
so: both were decided on the names as they were at finalization, which the
result rows keep (`cycle_results.nominee_name`). People are renamed
afterwards, and that is not tampering, so verify lists the recomputed
ranking by those frozen names (`ranking_query(..., frozen_names=True)`), not
by the users' names now: otherwise a rename that flips two tied nominees'
alphabetical order would be reported as a changed `tie_break` on both. (A
nominee with no stored row, reported as missing anyway, is listed by their
current name.)"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import cast, or_, select
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.orm import Session

from plaudit.errors import NotFinalized, NotFound
from plaudit.models import Cycle, CycleResult
from plaudit.services.ranking import FINISHED
from plaudit.services.results_digest import inputs_digest
from plaudit.services.scoring import ranking_query, scoring_of

# The result fields that follow from the inputs, causes before consequences
# (a changed score is named rather than the rank it moved). `nominee_name`
# and `team_id` are snapshots of the person at finalization (people are
# renamed and move teams afterwards), so they are not compared; `tie_break`
# is recomputed over the frozen names (see the module's docstring).
COMPARED = ("score", "approved_nominations", "criteria", "spread", "rank", "is_winner", "tie_break")


@dataclass(frozen=True)
class Difference:
    """One stored value that the recomputation does not give."""

    what: str
    stored: Any
    recomputed: Any

    def __str__(self) -> str:
        return f"{self.what}: stored {_show(self.stored)}, recomputed {_show(self.recomputed)}"


def verify_results(session: Session, cycle_id: uuid.UUID, *, limit: int = 20) -> list[Difference]:
    """Recompute a finalized (or archived) cycle's ranking and inputs digest
    from its stored criteria and approvals and compare them with what
    finalize stored; return the differences (at most `limit`), first the
    result rows in stored ranking order (a nominee missing on either side,
    then each field of `COMPARED` in that order), then the digest. Empty:
    verified. `not_found` / `not_finalized` otherwise. Writes nothing.

    One FULL JOIN of `ranking_query` with the stored rows finds the rows that
    differ; only those reach Python.
    """
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(f"cycle {cycle_id} not found")
    if cycle.status not in FINISHED:
        raise NotFinalized(f"cycle {cycle_id} is {cycle.status}; results exist once it is finalized")
    live = ranking_query(scoring_of(session, cycle), frozen_names=True).subquery("live")
    stored = select(CycleResult).where(CycleResult.cycle_id == cycle_id).subquery("stored")
    differs = [_comparable(live.c[f]).is_distinct_from(_comparable(stored.c[f])) for f in COMPARED]
    rows = session.execute(
        select(
            stored.c.nominee_id.label("stored_id"),
            live.c.nominee_id.label("live_id"),
            stored.c.nominee_name,
            *(stored.c[f].label(f"stored_{f}") for f in COMPARED),
            *(live.c[f].label(f"live_{f}") for f in COMPARED),
        )
        .select_from(live.join(stored, live.c.nominee_id == stored.c.nominee_id, full=True))
        .where(stored.c.nominee_id.is_(None) | live.c.nominee_id.is_(None) | or_(*differs))
        .order_by(stored.c.rank.nulls_last(), stored.c.nominee_name, live.c.rank, live.c.nominee_id)
        .limit(limit)
    ).all()
    found = [_first_difference(row) for row in rows]
    digest = inputs_digest(session, cycle_id)
    if digest != cycle.inputs_digest:
        found.append(Difference("inputs_digest", cycle.inputs_digest, digest))
    return found[:limit]


def _first_difference(row: Any) -> Difference:
    if row.stored_id is None:
        return Difference(f"nominee {row.live_id}", "no result row", "ranked")
    who = f"nominee {row.stored_id} ({row.nominee_name})"
    if row.live_id is None:
        return Difference(who, "ranked", "not ranked")
    field = next(f for f in COMPARED if getattr(row, f"stored_{f}") != getattr(row, f"live_{f}"))
    return Difference(f"{who} {field}", getattr(row, f"stored_{field}"), getattr(row, f"live_{field}"))


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def _comparable(column: Any) -> Any:
    """`json` has no equality: the breakdowns are compared as `jsonb` (same
    keys and values, whatever the text's key order or spacing)."""
    return cast(column, JSONB) if isinstance(column.type, JSON) else column
