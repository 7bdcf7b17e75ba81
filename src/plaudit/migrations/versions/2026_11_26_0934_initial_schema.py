"""Initial schema: every table, constraint and index, and the append-only audit trigger.

Revision ID: 03ec846b28f7
Revises: 
Create Date: 2026-11-26 09:34:45.573720
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '03ec846b28f7'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_APPEND_ONLY = """
CREATE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_logs_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();
CREATE TRIGGER audit_logs_no_truncate
    BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only();
"""

DROP_AUDIT_APPEND_ONLY = """
DROP TRIGGER audit_logs_no_truncate ON audit_logs;
DROP TRIGGER audit_logs_no_update_delete ON audit_logs;
DROP FUNCTION audit_logs_append_only();
"""


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('manager_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(name) BETWEEN 1 AND 200', name=op.f('ck_teams_name_length')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams'))
    )
    op.create_index(op.f('ix_teams_manager_id'), 'teams', ['manager_id'], unique=False)
    op.create_index('uq_teams_lower_name', 'teams', [sa.literal_column('lower(name)')], unique=True)
    op.create_table('users',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("email = lower(email) AND email LIKE '_%%@_%%'", name=op.f('ck_users_email_lower')),
    sa.CheckConstraint("role IN ('employee', 'team_lead', 'manager', 'admin')", name=op.f('ck_users_role')),
    sa.CheckConstraint('char_length(display_name) BETWEEN 1 AND 200', name=op.f('ck_users_display_name_length')),
    sa.CheckConstraint('char_length(email) <= 320', name=op.f('ck_users_email_length')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_users_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_index('ix_users_display_name_id', 'users', ['display_name', 'id'], unique=False)
    op.create_index(op.f('ix_users_team_id'), 'users', ['team_id'], unique=False)
    # teams and users refer to each other: this key can only follow both tables.
    op.create_foreign_key(op.f('fk_teams_manager_id_users'), 'teams', 'users', ['manager_id'], ['id'])
    op.create_table('api_tokens',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(name) BETWEEN 1 AND 200', name=op.f('ck_api_tokens_name_length')),
    sa.CheckConstraint('octet_length(token_hash) = 32', name=op.f('ck_api_tokens_token_hash_sha256')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table('audit_logs',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('entity_type', sa.Text(), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('request_id', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_logs_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_logs')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_logs_seq'))
    )
    op.create_index('ix_audit_logs_action_seq', 'audit_logs', ['action', 'seq'], unique=False)
    op.create_index('ix_audit_logs_actor_id_seq', 'audit_logs', ['actor_id', 'seq'], unique=False)
    op.create_index('ix_audit_logs_entity', 'audit_logs', ['entity_type', 'entity_id', 'seq'], unique=False)
    op.create_index('ix_audit_logs_occurred_at', 'audit_logs', ['occurred_at'], unique=False)
    op.create_table('cycles',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=20), server_default='draft', nullable=False),
    sa.Column('nomination_opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('nomination_closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approval_opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approval_closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rating_min', sa.Integer(), server_default='1', nullable=False),
    sa.Column('rating_max', sa.Integer(), server_default='5', nullable=False),
    sa.Column('required_approvals', sa.Integer(), server_default='1', nullable=False),
    sa.Column('max_nominations_per_nominator', sa.Integer(), nullable=True),
    sa.Column('award_slots', sa.Integer(), server_default='3', nullable=False),
    sa.Column('nominator_roles', sa.ARRAY(sa.Text()), server_default=sa.text("ARRAY['employee', 'team_lead', 'manager', 'admin']::text[]"), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finalized_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'archived') = (archived_at IS NOT NULL)", name=op.f('ck_cycles_archived_at')),
    sa.CheckConstraint("(status = 'draft') = (published_at IS NULL)", name=op.f('ck_cycles_published_at')),
    sa.CheckConstraint("(status IN ('finalized', 'archived')) = (finalized_at IS NOT NULL)", name=op.f('ck_cycles_finalized_at')),
    sa.CheckConstraint("cardinality(nominator_roles) >= 1 AND nominator_roles <@ ARRAY['employee', 'team_lead', 'manager', 'admin']::text[]", name=op.f('ck_cycles_nominator_roles')),
    sa.CheckConstraint("status IN ('draft', 'published', 'finalized', 'archived')", name=op.f('ck_cycles_status')),
    sa.CheckConstraint('0 <= rating_min AND rating_min < rating_max AND rating_max <= 100', name=op.f('ck_cycles_rating_scale')),
    sa.CheckConstraint('award_slots BETWEEN 1 AND 1000', name=op.f('ck_cycles_award_slots')),
    sa.CheckConstraint('char_length(description) <= 5000', name=op.f('ck_cycles_description_length')),
    sa.CheckConstraint('char_length(name) BETWEEN 1 AND 200', name=op.f('ck_cycles_name_length')),
    sa.CheckConstraint('max_nominations_per_nominator IS NULL OR max_nominations_per_nominator >= 1', name=op.f('ck_cycles_max_nominations')),
    sa.CheckConstraint('nomination_opens_at < nomination_closes_at AND approval_opens_at < approval_closes_at AND approval_opens_at >= nomination_opens_at AND approval_closes_at >= nomination_closes_at', name=op.f('ck_cycles_windows')),
    sa.CheckConstraint('required_approvals BETWEEN 1 AND 10', name=op.f('ck_cycles_required_approvals')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_cycles_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycles'))
    )
    op.create_index('ix_cycles_created_at_id', 'cycles', ['created_at', 'id'], unique=False)
    op.create_index('uq_cycles_lower_name', 'cycles', [sa.literal_column('lower(name)')], unique=True)
    op.create_table('criteria',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('weight', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(description) <= 2000', name=op.f('ck_criteria_description_length')),
    sa.CheckConstraint('char_length(name) BETWEEN 1 AND 100', name=op.f('ck_criteria_name_length')),
    sa.CheckConstraint('weight > 0 AND weight <= 1', name=op.f('ck_criteria_weight_range')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_criteria_cycle_id_cycles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_criteria'))
    )
    op.create_index(op.f('ix_criteria_cycle_id'), 'criteria', ['cycle_id'], unique=False)
    op.create_index('uq_criteria_cycle_id_lower_name', 'criteria', ['cycle_id', sa.literal_column('lower(name)')], unique=True)
    op.create_table('cycle_results',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('nominee_id', sa.Uuid(), nullable=False),
    sa.Column('nominee_name', sa.Text(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('score', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('approved_nominations', sa.Integer(), nullable=False),
    sa.Column('is_winner', sa.Boolean(), nullable=False),
    sa.Column('criteria', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("jsonb_typeof(criteria) = 'array'", name=op.f('ck_cycle_results_criteria_array')),
    sa.CheckConstraint('approved_nominations >= 1', name=op.f('ck_cycle_results_approved_nominations_positive')),
    sa.CheckConstraint('rank >= 1', name=op.f('ck_cycle_results_rank_positive')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_cycle_results_cycle_id_cycles')),
    sa.ForeignKeyConstraint(['nominee_id'], ['users.id'], name=op.f('fk_cycle_results_nominee_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_cycle_results_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycle_results'))
    )
    op.create_index('ix_cycle_results_cycle_id_rank', 'cycle_results', ['cycle_id', 'rank', 'nominee_name', 'nominee_id'], unique=False)
    op.create_index('ix_cycle_results_nominee_id', 'cycle_results', ['nominee_id'], unique=False)
    op.create_index('uq_cycle_results_cycle_id_nominee_id', 'cycle_results', ['cycle_id', 'nominee_id'], unique=True)
    op.create_table('nominations',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('nominator_id', sa.Uuid(), nullable=False),
    sa.Column('nominee_id', sa.Uuid(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name=op.f('ck_nominations_withdrawn_at')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')", name=op.f('ck_nominations_status')),
    sa.CheckConstraint(r"char_length(regexp_replace(justification, '^\s+|\s+$', '', 'g')) BETWEEN 10 AND 5000", name=op.f('ck_nominations_justification_length')),
    sa.CheckConstraint('nominator_id <> nominee_id', name=op.f('ck_nominations_not_self')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_nominations_cycle_id_cycles')),
    sa.ForeignKeyConstraint(['nominator_id'], ['users.id'], name=op.f('fk_nominations_nominator_id_users')),
    sa.ForeignKeyConstraint(['nominee_id'], ['users.id'], name=op.f('fk_nominations_nominee_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nominations'))
    )
    op.create_index('ix_nominations_cycle_id_created_at_id', 'nominations', ['cycle_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_nominations_cycle_id_nominee_id', 'nominations', ['cycle_id', 'nominee_id'], unique=False)
    op.create_index('ix_nominations_nominee_id', 'nominations', ['nominee_id'], unique=False)
    op.create_index('uq_nominations_live_pair', 'nominations', ['cycle_id', 'nominator_id', 'nominee_id'], unique=True, postgresql_where=sa.text("status <> 'withdrawn'"))
    op.create_table('approvals',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('nomination_id', sa.Uuid(), nullable=False),
    sa.Column('approver_id', sa.Uuid(), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint(r"decision <> 'reject' OR (comment IS NOT NULL AND comment ~ '\S')", name=op.f('ck_approvals_reject_has_comment')),
    sa.CheckConstraint("decision IN ('approve', 'reject')", name=op.f('ck_approvals_decision')),
    sa.CheckConstraint('char_length(comment) <= 2000', name=op.f('ck_approvals_comment_length')),
    sa.ForeignKeyConstraint(['approver_id'], ['users.id'], name=op.f('fk_approvals_approver_id_users')),
    sa.ForeignKeyConstraint(['nomination_id'], ['nominations.id'], name=op.f('fk_approvals_nomination_id_nominations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals'))
    )
    op.create_index(op.f('ix_approvals_approver_id'), 'approvals', ['approver_id'], unique=False)
    op.create_index('uq_approvals_nomination_id_approver_id', 'approvals', ['nomination_id', 'approver_id'], unique=True)
    op.create_table('approval_ratings',
    sa.Column('approval_id', sa.Uuid(), nullable=False),
    sa.Column('criterion_id', sa.Uuid(), nullable=False),
    sa.Column('value', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint('value BETWEEN 0 AND 100', name=op.f('ck_approval_ratings_value_range')),
    sa.ForeignKeyConstraint(['approval_id'], ['approvals.id'], name=op.f('fk_approval_ratings_approval_id_approvals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['criterion_id'], ['criteria.id'], name=op.f('fk_approval_ratings_criterion_id_criteria')),
    sa.PrimaryKeyConstraint('approval_id', 'criterion_id', name=op.f('pk_approval_ratings'))
    )
    op.create_index(op.f('ix_approval_ratings_criterion_id'), 'approval_ratings', ['criterion_id'], unique=False)

    op.execute(AUDIT_APPEND_ONLY)


def downgrade() -> None:
    op.execute(DROP_AUDIT_APPEND_ONLY)
    op.drop_index(op.f('ix_approval_ratings_criterion_id'), table_name='approval_ratings')
    op.drop_table('approval_ratings')
    op.drop_index('uq_approvals_nomination_id_approver_id', table_name='approvals')
    op.drop_index(op.f('ix_approvals_approver_id'), table_name='approvals')
    op.drop_table('approvals')
    op.drop_index('uq_nominations_live_pair', table_name='nominations', postgresql_where=sa.text("status <> 'withdrawn'"))
    op.drop_index('ix_nominations_nominee_id', table_name='nominations')
    op.drop_index('ix_nominations_cycle_id_nominee_id', table_name='nominations')
    op.drop_index('ix_nominations_cycle_id_created_at_id', table_name='nominations')
    op.drop_table('nominations')
    op.drop_index('uq_cycle_results_cycle_id_nominee_id', table_name='cycle_results')
    op.drop_index('ix_cycle_results_nominee_id', table_name='cycle_results')
    op.drop_index('ix_cycle_results_cycle_id_rank', table_name='cycle_results')
    op.drop_table('cycle_results')
    op.drop_index('uq_criteria_cycle_id_lower_name', table_name='criteria')
    op.drop_index(op.f('ix_criteria_cycle_id'), table_name='criteria')
    op.drop_table('criteria')
    op.drop_index('uq_cycles_lower_name', table_name='cycles')
    op.drop_index('ix_cycles_created_at_id', table_name='cycles')
    op.drop_table('cycles')
    op.drop_index('ix_audit_logs_occurred_at', table_name='audit_logs')
    op.drop_index('ix_audit_logs_entity', table_name='audit_logs')
    op.drop_index('ix_audit_logs_actor_id_seq', table_name='audit_logs')
    op.drop_index('ix_audit_logs_action_seq', table_name='audit_logs')
    op.drop_table('audit_logs')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_constraint(op.f('fk_teams_manager_id_users'), 'teams', type_='foreignkey')
    op.drop_index(op.f('ix_users_team_id'), table_name='users')
    op.drop_index('ix_users_display_name_id', table_name='users')
    op.drop_table('users')
    op.drop_index('uq_teams_lower_name', table_name='teams')
    op.drop_index(op.f('ix_teams_manager_id'), table_name='teams')
    op.drop_table('teams')
