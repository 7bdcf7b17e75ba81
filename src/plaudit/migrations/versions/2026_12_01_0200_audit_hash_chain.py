"""The audit hash chain: audit_logs.txid, audit_seals, audit_verifications,
the sealing function, and the rows that exist sealed.

`audit_seal(max_rows)` is the one sealer (`plaudit audit seal`, the server's
timer and this migration call it). The canonical text of a row is written
out here as it is at this revision; `plaudit.services.audit_chain` holds the
verifier's own copy (a verifier must not trust code stored in the database
it checks), and the chain's tests seal with one and verify with the other.

Rows written before this revision get txid 0, so they come first, in `seq`
order. ALTER TABLE waits for every transaction that has written to
audit_logs, so no such row can still be in flight when they are sealed.

Revision ID: 9c4d2b7e6f10
Revises: cbf64ff4a0fc
Create Date: 2026-12-01 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9c4d2b7e6f10'
down_revision: str | None = 'cbf64ff4a0fc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

SEAL = r"""
CREATE FUNCTION audit_seal(max_rows integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    horizon bigint;
    head_position bigint := 0;
    head_hash bytea := decode(repeat('00', 32), 'hex');
    head_txid bigint := -1;
    head_seq bigint := -1;
    ids uuid[] := '{}';
    txids bigint[] := '{}';
    hashes bytea[] := '{}';
    r record;
BEGIN
    -- One sealer at a time; the head and the horizon are read after the lock.
    PERFORM pg_advisory_xact_lock(8172025115);
    horizon := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    SELECT s.position, s.hash, a.txid, a.seq INTO head_position, head_hash, head_txid, head_seq
    FROM audit_seals s JOIN audit_logs a ON a.id = s.audit_id
    ORDER BY s.position DESC LIMIT 1;
    IF NOT FOUND THEN
        head_position := 0; head_hash := decode(repeat('00', 32), 'hex'); head_txid := -1; head_seq := -1;
    END IF;
    FOR r IN
        SELECT a.id, a.txid, jsonb_build_array(
                   a.id, a.seq, a.txid,
                   to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   a.actor_id, a.action, a.entity_type, a.entity_id, a.payload, a.request_id
               )::text AS body
        FROM audit_logs a
        WHERE (a.txid, a.seq) > (head_txid, head_seq) AND a.txid < horizon
        ORDER BY a.txid, a.seq
        LIMIT max_rows
    LOOP
        head_hash := sha256(head_hash || convert_to(r.body, 'UTF8'));
        ids := ids || r.id;
        txids := txids || r.txid;
        hashes := hashes || head_hash;
    END LOOP;
    INSERT INTO audit_seals (position, audit_id, hash, horizon)
    SELECT head_position + u.i, u.id, u.hash,
           CASE WHEN u.i = cardinality(ids) AND (max_rows IS NULL OR u.i < max_rows) THEN horizon ELSE u.txid END
    FROM unnest(ids, txids, hashes) WITH ORDINALITY AS u(id, txid, hash, i);
    RETURN cardinality(ids);
END;
$$;
"""


def upgrade() -> None:
    # A constant default fills the existing rows without rewriting (or updating) them.
    op.add_column('audit_logs', sa.Column('txid', sa.BigInteger(), server_default='0', nullable=False))
    op.alter_column('audit_logs', 'txid', server_default=sa.text('(pg_current_xact_id())::text::bigint'))
    op.create_index('ix_audit_logs_txid_seq', 'audit_logs', ['txid', 'seq'], unique=False)
    op.create_table('audit_seals',
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('audit_id', sa.Uuid(), nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.Column('horizon', sa.BigInteger(), nullable=False),
    sa.Column('sealed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('octet_length(hash) = 32', name=op.f('ck_audit_seals_hash_length')),
    sa.CheckConstraint('position >= 1', name=op.f('ck_audit_seals_position_positive')),
    sa.ForeignKeyConstraint(['audit_id'], ['audit_logs.id'], name=op.f('fk_audit_seals_audit_id_audit_logs')),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_audit_seals')),
    sa.UniqueConstraint('audit_id', name=op.f('uq_audit_seals_audit_id'))
    )
    op.create_table('audit_verifications',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('sealed', sa.BigInteger(), nullable=False),
    sa.Column('unsealed', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.Text(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_verifications'))
    )
    op.execute(APPEND_ONLY)
    for table in ('audit_seals', 'audit_verifications'):
        op.execute(
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION append_only()"
        )
    op.execute(SEAL)
    op.execute("SELECT audit_seal(NULL)")


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_seal(integer)")
    op.drop_table('audit_verifications')
    op.drop_table('audit_seals')
    op.execute("DROP FUNCTION append_only()")
    op.drop_index('ix_audit_logs_txid_seq', table_name='audit_logs')
    op.drop_column('audit_logs', 'txid')
