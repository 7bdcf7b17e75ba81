"""cycle_results: the breakdown as `json`, one index fewer.

Finalize writes each result row's per-criterion breakdown once, as text
(`scoring.breakdown_parts`), and it is only ever read back whole: as `jsonb`
PostgreSQL parsed it into a tree on the way in and printed it again on the
way out, a sixth of finalize's time. The unique index on (cycle, nominee)
becomes (nominee, cycle): the same rule, and it also finds a person's awards,
so the separate index on the nominee goes (one index fewer to fill per row).

Revision ID: 7c2e5a9d4b13
Revises: 3f8a1d2c7b90
Create Date: 2026-12-01 06:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '7c2e5a9d4b13'
down_revision: str | None = '3f8a1d2c7b90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f('ck_cycle_results_criteria_array'), 'cycle_results', type_='check')
    op.execute("ALTER TABLE cycle_results ALTER COLUMN criteria TYPE json USING criteria::json")
    op.create_check_constraint(op.f('ck_cycle_results_criteria_array'), 'cycle_results',
                               "json_typeof(criteria) = 'array'")
    op.create_index('uq_cycle_results_nominee_id_cycle_id', 'cycle_results', ['nominee_id', 'cycle_id'], unique=True)
    op.drop_index('uq_cycle_results_cycle_id_nominee_id', table_name='cycle_results')
    op.drop_index('ix_cycle_results_nominee_id', table_name='cycle_results')


def downgrade() -> None:
    op.create_index('ix_cycle_results_nominee_id', 'cycle_results', ['nominee_id'], unique=False)
    op.create_index('uq_cycle_results_cycle_id_nominee_id', 'cycle_results', ['cycle_id', 'nominee_id'], unique=True)
    op.drop_index('uq_cycle_results_nominee_id_cycle_id', table_name='cycle_results')
    op.drop_constraint(op.f('ck_cycle_results_criteria_array'), 'cycle_results', type_='check')
    op.execute("ALTER TABLE cycle_results ALTER COLUMN criteria TYPE jsonb USING criteria::jsonb")
    op.create_check_constraint(op.f('ck_cycle_results_criteria_array'), 'cycle_results',
                               "jsonb_typeof(criteria) = 'array'")
