"""Web sign-in: password hashes, one-time set-password links, browser sessions
(stored as hashes), sign-in failures for the throttle, and a trigger that ends a
user's sessions when they are deactivated, whichever path deactivates them.

Revision ID: f354e3645910
Revises: 5b1e7c0d9a21
Create Date: 2026-12-01 01:13:06.007804
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f354e3645910'
down_revision: str | None = '5b1e7c0d9a21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

END_SESSIONS_ON_DEACTIVATION = """
CREATE FUNCTION web_sessions_end_on_deactivation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM web_sessions WHERE user_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_deactivation_ends_web_sessions
    AFTER UPDATE OF is_active ON users
    FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
    EXECUTE FUNCTION web_sessions_end_on_deactivation();
"""

DROP_END_SESSIONS_ON_DEACTIVATION = """
DROP TRIGGER users_deactivation_ends_web_sessions ON users;
DROP FUNCTION web_sessions_end_on_deactivation();
"""


def upgrade() -> None:
    op.create_table('sign_in_failures',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failures'))
    )
    op.create_index('ix_sign_in_failures_email_occurred_at', 'sign_in_failures', ['email', 'occurred_at'], unique=False)
    op.create_table('credentials',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("starts_with(password_hash, '$argon2id$')", name=op.f('ck_credentials_argon2id')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_credentials_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_credentials'))
    )
    op.create_table('password_links',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("purpose IN ('invite', 'reset')", name=op.f('ck_password_links_purpose')),
    sa.CheckConstraint('octet_length(token_hash) = 32', name=op.f('ck_password_links_token_hash_sha256')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_links_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_links_token_hash'))
    )
    op.create_index(op.f('ix_password_links_user_id'), 'password_links', ['user_id'], unique=False)
    op.create_table('web_sessions',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('octet_length(token_hash) = 32', name=op.f('ck_web_sessions_token_hash_sha256')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    op.create_index(op.f('ix_web_sessions_user_id'), 'web_sessions', ['user_id'], unique=False)
    op.execute(END_SESSIONS_ON_DEACTIVATION)


def downgrade() -> None:
    op.execute(DROP_END_SESSIONS_ON_DEACTIVATION)
    op.drop_index(op.f('ix_web_sessions_user_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_index(op.f('ix_password_links_user_id'), table_name='password_links')
    op.drop_table('password_links')
    op.drop_table('credentials')
    op.drop_index('ix_sign_in_failures_email_occurred_at', table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
