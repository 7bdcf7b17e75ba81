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

PostgreSQL computes it (`digest_query`), so a million ratings never cross
the wire. Finalize stores it on the cycle and in its `cycle.finalize`
audit row, which the audit hash chain then seals; `plaudit results verify`
(`plaudit.services.results_verify`) recomputes it.
"""

import uuid

from sqlalchemy import Text, TextClause, bindparam, text
from sqlalchemy.orm import Session

DIGEST_SQL = """
WITH crit AS (
    SELECT c.id, c.weight, row_number() OVER (ORDER BY c.id) AS k
    FROM criteria c
    WHERE c.cycle_id = :cycle_id
),
approval_lines AS (
    SELECT n.id AS nomination_id, a.approver_id,
           'approval ' || n.id || ' ' || n.nominee_id || ' ' || a.approver_id
               || string_agg(' ' || c.k || ':' || r.value, '' ORDER BY c.k) || E'\\n' AS line
    FROM nominations n
    JOIN approvals a ON a.nomination_id = n.id AND a.decision = 'approve'
    JOIN approval_ratings r ON r.approval_id = a.id
    JOIN crit c ON c.id = r.criterion_id
    WHERE n.cycle_id = :cycle_id AND n.status = 'approved'
    GROUP BY n.id, n.nominee_id, a.id, a.approver_id
)
SELECT encode(sha256(convert_to(
    'plaudit inputs v1' || E'\\n'
    || 'cycle ' || cy.id || E'\\n'
    || 'scoring ' || cy.score_normalization || E'\\n'
    || 'award_slots ' || cy.award_slots || E'\\n'
    || coalesce((
        SELECT string_agg('criterion ' || k || ' ' || id || ' ' || weight::numeric(5, 4) || E'\\n', '' ORDER BY k)
        FROM crit
    ), '')
    || coalesce((SELECT string_agg(line, '' ORDER BY nomination_id, approver_id) FROM approval_lines), ''),
    'UTF8')), 'hex')
FROM cycles cy
WHERE cy.id = :cycle_id
"""


def digest_query(cycle_id: uuid.UUID) -> TextClause:
    """SQL: the cycle's `inputs_digest` as it would be computed now (one row, one column)."""
    return text(DIGEST_SQL).bindparams(bindparam("cycle_id", cycle_id)).columns(digest=Text)


def inputs_digest(session: Session, cycle_id: uuid.UUID) -> str:
    """The cycle's inputs digest from its data as stored now."""
    return session.execute(digest_query(cycle_id)).scalar_one()
