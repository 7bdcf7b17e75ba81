"""`inputs_digest`: what a cycle's ranking was computed from, fixed at
finalization, and `verify_results`, which recomputes everything from it.

The digest is the SHA-256 (lower-case hex) of this UTF-8 text, every line
ending in a line feed (`\\n`), UUIDs in their lower-case hyphenated form:

    plaudit inputs v1
    cycle <cycle id>
    scoring <method>                  "none" (plain means; "zscore" once normalisation exists)
    award_slots <award slots>
    criterion <criterion id> <weight, 4 places: 0.2500>                       one per criterion
    rating <nomination id> <nominee id> <approver id> <criterion id> <value>  one per counted rating

Criterion lines are sorted by criterion id, rating lines by nomination id,
approver id, criterion id: for both that is plain sorting of the lines as
text. The counted ratings are those the ranking counts: the ratings of
`approve` approvals of the cycle's `approved` nominations, for the cycle's
criteria. Beyond DOMAIN.md's list (method, criteria, ratings) the text
holds the cycle id (a digest cannot be replayed for another cycle), the
award slots (they decide the winners) and each rating's nominee (it decides
whose score a rating counts for). An auditor can recompute it from a query
of their own:

    lines = ["plaudit inputs v1", f"cycle {cycle_id}", "scoring none", f"award_slots {slots}"]
    lines += sorted(f"criterion {id} {weight:.4f}" for id, weight in criteria)
    lines += sorted(f"rating {n} {nominee} {approver} {c} {value}" for n, nominee, approver, c, value in ratings)
    hashlib.sha256("".join(line + "\\n" for line in lines).encode()).hexdigest()

PostgreSQL computes it (`digest_query`), so a million ratings never cross
the wire. Finalize stores it on the cycle and in its `cycle.finalize`
audit row, which the audit hash chain then seals; `plaudit results verify`
(`plaudit.services.results_verify`) recomputes it.
"""

import uuid

from sqlalchemy import Text, TextClause, bindparam, text
from sqlalchemy.orm import Session

# The scoring method's name in the canonical text (a cycle column once
# normalisation can be chosen).
SCORING = "'none'"

DIGEST_SQL = f"""
SELECT encode(sha256(convert_to(
    'plaudit inputs v1' || E'\\n'
    || 'cycle ' || cy.id || E'\\n'
    || 'scoring ' || {SCORING} || E'\\n'
    || 'award_slots ' || cy.award_slots || E'\\n'
    || coalesce((
        SELECT string_agg('criterion ' || c.id || ' ' || c.weight::numeric(5, 4) || E'\\n', '' ORDER BY c.id)
        FROM criteria c
        WHERE c.cycle_id = cy.id
    ), '')
    || coalesce((
        SELECT string_agg(
            'rating ' || n.id || ' ' || n.nominee_id || ' ' || a.approver_id || ' ' || r.criterion_id
                || ' ' || r.value || E'\\n',
            '' ORDER BY n.id, a.approver_id, r.criterion_id)
        FROM nominations n
        JOIN approvals a ON a.nomination_id = n.id AND a.decision = 'approve'
        JOIN approval_ratings r ON r.approval_id = a.id
        JOIN criteria c ON c.id = r.criterion_id AND c.cycle_id = cy.id
        WHERE n.cycle_id = cy.id AND n.status = 'approved'
    ), ''),
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
