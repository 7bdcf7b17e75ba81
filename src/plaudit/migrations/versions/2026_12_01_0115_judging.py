"""Judging: a cycle's winner cool-down and score normalisation; each result's
spread and tie break; an index for "the most recently finalized cycles".

Revision ID: 9d1891e4503f
Revises: 03ec846b28f7
Create Date: 2026-12-01 01:15:33.686570
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9d1891e4503f'
down_revision: str | None = '03ec846b28f7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('cycle_results', sa.Column('spread', sa.Numeric(precision=18, scale=6), nullable=True))
    op.add_column('cycle_results', sa.Column('tie_break', sa.Text(), nullable=True))
    op.create_check_constraint(op.f('ck_cycle_results_spread_non_negative'), 'cycle_results', 'spread >= 0')
    op.create_check_constraint(
        op.f('ck_cycle_results_tie_break'), 'cycle_results',
        "tie_break IN ('score', 'approved_nominations', 'name')",
    )
    op.add_column(
        'cycles', sa.Column('winner_cooldown_cycles', sa.SmallInteger(), server_default='0', nullable=False)
    )
    op.add_column(
        'cycles', sa.Column('score_normalization', sa.String(length=20), server_default='none', nullable=False)
    )
    op.create_check_constraint(
        op.f('ck_cycles_winner_cooldown_cycles'), 'cycles', 'winner_cooldown_cycles BETWEEN 0 AND 10'
    )
    op.create_check_constraint(
        op.f('ck_cycles_score_normalization'), 'cycles', "score_normalization IN ('none', 'zscore')"
    )
    op.create_index(
        'ix_cycles_finalized_at_id', 'cycles', ['finalized_at', 'id'], unique=False,
        postgresql_where=sa.text('finalized_at IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_cycles_finalized_at_id', table_name='cycles', postgresql_where=sa.text('finalized_at IS NOT NULL'))
    op.drop_constraint(op.f('ck_cycles_score_normalization'), 'cycles', type_='check')
    op.drop_constraint(op.f('ck_cycles_winner_cooldown_cycles'), 'cycles', type_='check')
    op.drop_column('cycles', 'score_normalization')
    op.drop_column('cycles', 'winner_cooldown_cycles')
    op.drop_constraint(op.f('ck_cycle_results_tie_break'), 'cycle_results', type_='check')
    op.drop_constraint(op.f('ck_cycle_results_spread_non_negative'), 'cycle_results', type_='check')
    op.drop_column('cycle_results', 'tie_break')
    op.drop_column('cycle_results', 'spread')
