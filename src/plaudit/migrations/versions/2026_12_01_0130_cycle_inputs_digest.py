"""cycles.inputs_digest: the SHA-256 of a cycle's ranking inputs, stored at finalization.

Cycles finalized before this revision get theirs computed from their
(frozen) criteria and approvals, with the canonical text of
`plaudit.services.results_digest` as it is at this revision (copied here, so
that a later change of the code does not change what this migration did).

Revision ID: 5b1e7c0d9a21
Revises: 9d1891e4503f
Create Date: 2026-12-01 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5b1e7c0d9a21'
down_revision: str | None = '9d1891e4503f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = r"""
WITH crit AS (
    SELECT c.cycle_id, c.id, c.weight, row_number() OVER (PARTITION BY c.cycle_id ORDER BY c.id) AS k
    FROM criteria c JOIN cycles cy ON cy.id = c.cycle_id
    WHERE cy.status IN ('finalized', 'archived')
),
approval_lines AS (
    SELECT n.cycle_id, n.id AS nomination_id, a.approver_id,
           'approval ' || n.id || ' ' || n.nominee_id || ' ' || a.approver_id
               || string_agg(' ' || c.k || ':' || r.value, '' ORDER BY c.k) || E'\n' AS line
    FROM nominations n
    JOIN approvals a ON a.nomination_id = n.id AND a.decision = 'approve'
    JOIN approval_ratings r ON r.approval_id = a.id
    JOIN crit c ON c.id = r.criterion_id AND c.cycle_id = n.cycle_id
    WHERE n.status = 'approved'
    GROUP BY n.cycle_id, n.id, n.nominee_id, a.id, a.approver_id
)
UPDATE cycles cy SET inputs_digest = encode(sha256(convert_to(
    'plaudit inputs v1' || E'\n'
    || 'cycle ' || cy.id || E'\n'
    || 'scoring ' || cy.score_normalization || E'\n'
    || 'award_slots ' || cy.award_slots || E'\n'
    || coalesce((
        SELECT string_agg('criterion ' || k || ' ' || id || ' ' || weight::numeric(5, 4) || E'\n', '' ORDER BY k)
        FROM crit WHERE crit.cycle_id = cy.id
    ), '')
    || coalesce((
        SELECT string_agg(line, '' ORDER BY nomination_id, approver_id) FROM approval_lines l WHERE l.cycle_id = cy.id
    ), ''),
    'UTF8')), 'hex')
WHERE cy.status IN ('finalized', 'archived')
"""


def upgrade() -> None:
    op.add_column('cycles', sa.Column('inputs_digest', sa.Text(), nullable=True))
    op.create_check_constraint(op.f('ck_cycles_inputs_digest_hex'), 'cycles', "inputs_digest ~ '^[0-9a-f]{64}$'")
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_constraint(op.f('ck_cycles_inputs_digest_hex'), 'cycles', type_='check')
    op.drop_column('cycles', 'inputs_digest')
