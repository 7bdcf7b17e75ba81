"""People find their work: an index for a nomination's whole story in the
audit log (its approvals' rows carry `nomination_id` in their payload), and
one for `GET /me/nominations` (a nominator's nominations, newest first).

Approval rows written before this revision carry no `nomination_id` (the log
is append-only, so they are not rewritten); they are found by their own
entity id.

Revision ID: cbf64ff4a0fc
Revises: f354e3645910
Create Date: 2026-12-01 01:39:12.084421
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'cbf64ff4a0fc'
down_revision: str | None = 'f354e3645910'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_audit_logs_payload_nomination_id', 'audit_logs', [sa.literal_column("(payload ->> 'nomination_id')")], unique=False, postgresql_where=sa.text("(payload ->> 'nomination_id') IS NOT NULL"))
    op.create_index('ix_nominations_nominator_id_created_at_id', 'nominations', ['nominator_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_nominations_nominator_id_created_at_id', table_name='nominations')
    op.drop_index('ix_audit_logs_payload_nomination_id', table_name='audit_logs', postgresql_where=sa.text("(payload ->> 'nomination_id') IS NOT NULL"))
