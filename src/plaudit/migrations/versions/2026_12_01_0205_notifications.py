"""Notifications: the outbox table, the users' email preference, and the job queue's schema.

The job queue is procrastinate's: its tables and functions come from the
installed package's own `schema.sql` (the version pinned in pyproject.toml),
applied here so that `plaudit db upgrade` is the one way a database is
prepared. Upgrading procrastinate to a version with schema changes means a
new migration that runs its migration files between the two versions.

Revision ID: 5b1e0c7a9d21
Revises: 9c4d2b7e6f10
Create Date: 2026-12-01 02:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision: str = '5b1e0c7a9d21'
down_revision: str | None = '9c4d2b7e6f10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every object procrastinate's schema creates is named procrastinate_*.
DROP_PROCRASTINATE = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE %I CASCADE', r.tablename);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP FUNCTION %s CASCADE', r.fn);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%' AND t.typtype IN ('e', 'c') LOOP
        EXECUTE format('DROP TYPE %I CASCADE', r.typname);
    END LOOP;
END;
$$;
"""


def _run_script(sql: str) -> None:
    """A multi-statement script as is, on the migration's connection and in
    its transaction (psycopg reads no placeholders in a query without parameters)."""
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    op.add_column('users', sa.Column('email_notifications', sa.Boolean(), server_default='true', nullable=False))
    op.create_index('ix_users_active_admins', 'users', ['id'], unique=False, postgresql_where=sa.text("role = 'admin' AND is_active"))
    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('recipient_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('email_status', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("email_status IN ('not_sent', 'queued', 'sent', 'failed')", name=op.f('ck_notifications_email_status')),
    sa.CheckConstraint("kind IN ('cycle_published', 'nomination_created', 'nomination_approved', 'nomination_rejected', 'nomination_reminder', 'approval_reminder', 'cycle_finalized', 'password_reset')", name=op.f('ck_notifications_kind')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_notifications_attempts_non_negative')),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_notifications_recipient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    op.create_index('ix_notifications_email_status_created', 'notifications', ['email_status', 'created_at', 'id'], unique=False)
    op.create_index('ix_notifications_recipient_created', 'notifications', ['recipient_id', 'created_at', 'id'], unique=False)
    op.create_index('uq_notifications_event_recipient', 'notifications', ['kind', 'subject_id', 'recipient_id'], unique=True)
    _run_script(SchemaManager.get_schema())


def downgrade() -> None:
    _run_script(DROP_PROCRASTINATE)
    op.drop_index('uq_notifications_event_recipient', table_name='notifications')
    op.drop_index('ix_notifications_recipient_created', table_name='notifications')
    op.drop_index('ix_notifications_email_status_created', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index('ix_users_active_admins', table_name='users', postgresql_where=sa.text("role = 'admin' AND is_active"))
    op.drop_column('users', 'email_notifications')
