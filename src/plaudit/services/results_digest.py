"""`inputs_digest`: what a cycle's ranking was computed from, fixed at
finalization.

The digest is the SHA-256 (lower-case hex) of this UTF-8 text, every line
ending in a line feed (`\\n`), UUIDs in their lower-case hyphenated form:

    plaudit inputs v1
    cycle <cycle id>
    scoring <method>                      the cycle's score_normalization: none or zscore
    award_slots <award slots>
    criterion <k> <criterion id> <weight, 4 places: 0.2500>           k = 1, 2, ... in criterion id order
    approval <nomination id> <nominee id> <approver id> <k>:<value> ...   one per counted approval

Criterion lines are in criterion id order; approval lines in nomination id,
then approver id order (for both, plain sorting of the lines as text), and
within an approval line the ratings are in `k` order. The counted
approvals are those the ranking counts: the `approve` approvals of the
cycle's `approved` nominations, with their ratings for the cycle's criteria.
So every counted rating is there (nomination, approver, criterion, value),
one line per approval rather than per rating: a fifth of the lines to build,
sort and hash. Beyond DOMAIN.md's list (method, criteria, ratings) the text
holds the cycle id (a digest cannot be replayed for another cycle), the
award slots (they decide the winners) and each nomination's nominee (it
decides whose score a rating counts for). An auditor can recompute it from
queries of their own:

    criteria = sorted(criteria)                                  # [(criterion id, weight)]
    k = {id: i for i, (id, _) in enumerate(criteria, 1)}
    lines = ["plaudit inputs v1", f"cycle {cycle_id}", f"scoring {method}", f"award_slots {slots}"]
    lines += [f"criterion {i} {id} {weight:.4f}" for i, (id, weight) in enumerate(criteria, 1)]
    lines += sorted(f"approval {n} {nominee} {approver} " + " ".join(f"{k[c]}:{v}" for c, v in sorted(
        ratings, key=lambda cv: k[cv[0]])) for n, nominee, approver, ratings in approvals)
    hashlib.sha256("".join(line + "\\n" for line in lines).encode()).hexdigest()

PostgreSQL computes it from the ranking's own `rated` rows (one per counted
approval, its ratings pivoted into columns; `plaudit.services.scoring`), so
a million ratings never cross the wire, and finalize computes it in the same
statement as the ranking, from the same pass over the ratings. Finalize
stores it on the cycle and in its `cycle.finalize` audit row, which the
audit hash chain then seals; `plaudit results verify`
(`plaudit.services.results_verify`) recomputes it.
"""

import uuid
from functools import lru_cache

from sqlalchemy import Text, TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from plaudit.models import Cycle
from plaudit.services.scoring import Scoring, bound, ranking_ctes, scoring_of

VERSION = "plaudit inputs v1"


def digest_head(scoring: Scoring) -> str:
    """The canonical text's lines before the approval lines."""
    criteria = sorted(scoring.criteria, key=lambda c: c.id)
    lines = [VERSION, f"cycle {scoring.cycle_id}", f"scoring {scoring.normalization.value}",
             f"award_slots {scoring.award_slots}"]
    lines += [f"criterion {k} {c.id} {c.weight:.4f}" for k, c in enumerate(criteria, 1)]
    return "".join(line + "\n" for line in lines)


def digest_sql(scoring: Scoring) -> str:
    """SQL: a scalar SELECT of the digest over the CTE `rated` (as
    `scoring.ranking_ctes` defines it), its head bound as `:digest_head`."""
    by_id = sorted(range(len(scoring.criteria)), key=lambda i: scoring.criteria[i].id)
    return _digest_sql(tuple(by_id))


@lru_cache(maxsize=64)
def _digest_sql(by_id: tuple[int, ...]) -> str:
    # Rating k of a line is the pivot column of the criterion that is k-th by id;
    # a rating that is not there is left out of the line, as the text says.
    ratings = "".join(f" || coalesce(' {k}:' || p.r{i}, '')" for k, i in enumerate(by_id, 1))
    line = f"'approval ' || p.nomination_id || ' ' || p.nominee_id || ' ' || p.approver_id{ratings} || E'\\n'"
    return (
        "SELECT encode(sha256(convert_to(:digest_head || coalesce("
        f"string_agg({line}, '' ORDER BY p.nomination_id, p.approver_id), ''), 'UTF8')), 'hex') FROM rated p"
    )


def bound_with_head(statement: TextClause, scoring: Scoring) -> TextClause:
    """`statement` (on `ranking_ctes`, with `digest_sql` in it) with the
    ranking's parameters and the digest's head bound."""
    return bound(statement, scoring).bindparams(bindparam("digest_head", digest_head(scoring), type_=Text))


def inputs_digest(session: Session, cycle_id: uuid.UUID) -> str:
    """The cycle's inputs digest from its data as stored now."""
    cycle = session.execute(
        select(Cycle.id, Cycle.award_slots, Cycle.score_normalization).where(Cycle.id == cycle_id)
    ).one()
    scoring = scoring_of(session, cycle)
    statement = text(f"{ranking_ctes(len(scoring.criteria), scoring.normalization)}\n{digest_sql(scoring)}")
    return session.execute(bound_with_head(statement, scoring).columns(digest=Text)).scalar_one()
