"""Least privilege: the application's role (`plaudit db grant`, see
`plaudit.db.grants`) can write the audit log but never change, empty or
unprotect it. (The whole API suite runs as that role: tests/api/conftest.py.)"""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from plaudit.db import migrate
from plaudit.db.session import make_engine
from tests.conftest import AppRole
from tests.services.test_audit_chain import seal_everything, write

INSERT_AUDIT_ROW = (
    "INSERT INTO audit_logs (action, entity_type, entity_id, payload) VALUES ('user.update', 'user', :e, '{}')"
)


@pytest.fixture
def as_app(committed_db, app_role: AppRole):
    """An engine on the committed database, logged in as the application's role."""
    engine = make_engine(app_role.login(committed_db.url.render_as_string(hide_password=False)), pool_size=2)
    yield engine
    engine.dispose()


REFUSED = (
    "ALTER TABLE {table} DISABLE TRIGGER USER",
    "ALTER TABLE {table} DISABLE TRIGGER ALL",
    "UPDATE {table} SET {column} = {column}",
    "DELETE FROM {table}",
    "TRUNCATE {table}",
    "DROP TABLE {table}",
)


@pytest.mark.parametrize(
    ("table", "column"),
    [("audit_logs", "payload"), ("audit_seals", "hash"), ("audit_verifications", "ok"), ("cycle_results", "score")],
)
def test_the_app_role_cannot_change_empty_or_unprotect_the_append_only_tables(committed_db, as_app, table, column):
    write(committed_db, 2)
    seal_everything(committed_db)
    for sql in REFUSED:
        with pytest.raises(ProgrammingError) as refused, as_app.begin() as conn:
            conn.execute(text(sql.format(table=table, column=column)))
        reason = str(refused.value.orig)
        assert "permission denied" in reason or "must be owner" in reason, (sql, reason)


def test_the_app_role_can_start_the_server_on_a_migrated_database(as_app):
    """`plaudit serve` runs `upgrade` first: at head that only reads alembic_version."""
    migrate.upgrade(as_app.url.render_as_string(hide_password=False))


def test_the_app_role_writes_reads_and_seals_the_audit_log(committed_db, as_app):
    with as_app.begin() as conn:
        conn.execute(text(INSERT_AUDIT_ROW), {"e": uuid.uuid4()})
        assert conn.scalar(text("SELECT count(*) FROM audit_logs")) == 1
    seal_everything(as_app)


def test_grant_revokes_what_the_role_should_not_have_and_refuses_the_owner_or_an_unknown_role(
    cli, committed_db, as_app, app_role
):
    with committed_db.begin() as conn:
        conn.execute(text(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_logs TO {app_role.name}"))
    result = cli("db", "grant", app_role.name)
    assert result.exit_code == 0, result.output
    append_only = "audit_logs, audit_seals, audit_verifications, cycle_results"
    assert f"REVOKE UPDATE, DELETE ON {append_only} FROM {app_role.name};" in result.stdout
    with pytest.raises(ProgrammingError), as_app.begin() as conn:
        conn.execute(text("DELETE FROM audit_logs"))

    owner = committed_db.url.username or "postgres"
    refused = cli("db", "grant", owner)
    assert refused.exit_code == 1 and "validation_error" in refused.stderr and "owns the tables" in refused.stderr
    unknown = cli("db", "grant", "no_such_role_here")
    assert unknown.exit_code == 1 and "not_found" in unknown.stderr
