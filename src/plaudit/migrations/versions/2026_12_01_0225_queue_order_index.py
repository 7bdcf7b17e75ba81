"""The approver's queue reads cycles soonest deadline first: an index on
`cycles.approval_closes_at` lets it sort incrementally and stop after the
page, instead of counting the decisions of every pending nomination.

Revision ID: 896b859e6077
Revises: 5b1e0c7a9d21
Create Date: 2026-12-01 01:49:08.275194
"""

from collections.abc import Sequence

from alembic import op

revision: str = '896b859e6077'
down_revision: str | None = '5b1e0c7a9d21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_cycles_approval_closes_at', 'cycles', ['approval_closes_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_cycles_approval_closes_at', table_name='cycles')
