"""`plaudit db grant ROLE`: the privileges of the application's database role.

Production runs with two roles: the owner of the tables runs the migrations
(`plaudit db upgrade`), and `plaudit serve` and the workers connect as a role
that owns nothing, so it can neither `ALTER TABLE audit_logs DISABLE
TRIGGER` nor drop or truncate anything. That role gets:

- the append-only tables (`APPEND_ONLY`): SELECT and INSERT only, so the
  audit log, its chain, the verification record and the frozen results can
  be neither changed nor deleted by the application;
- `alembic_version`: SELECT (`plaudit serve` checks it is at head);
- every other table of the schema: SELECT, INSERT, UPDATE, DELETE;
- the schema's sequences: USAGE and SELECT (never setval).

Never TRUNCATE, REFERENCES, TRIGGER, ownership or CREATE. Grants name the
tables that exist, so run it again after a migration adds one.
"""

from sqlalchemy import Connection, text

from plaudit.errors import NotFound, ValidationFailed

APPEND_ONLY = ("audit_logs", "audit_seals", "audit_verifications", "cycle_results")
READ_ONLY = ("alembic_version",)


def grant(connection: Connection, role: str) -> list[str]:
    """Give `role` exactly the privileges above (revoking any others it has
    on the schema's tables and sequences), in the caller's transaction;
    return the statements run. An unknown role is `not_found`; the tables'
    owner is a `validation_error` (no grant can restrict an owner)."""
    if connection.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}) == 0:
        raise NotFound(f"no database role {role}")
    owns = connection.scalar(
        text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner = :role"),
        {"role": role},
    )
    if owns:
        raise ValidationFailed(f"{role} owns the tables; give the application a role of its own")
    q = connection.dialect.identifier_preparer
    who, schema = q.quote(role), q.quote(connection.scalar(text("SELECT current_schema()")))
    present = set(connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))
    append_only = ", ".join(q.quote(t) for t in APPEND_ONLY if t in present)
    read_only = ", ".join(q.quote(t) for t in READ_ONLY if t in present)
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {who}",
        *([f"REVOKE UPDATE, DELETE ON {append_only} FROM {who}"] if append_only else []),
        *([f"REVOKE INSERT, UPDATE, DELETE ON {read_only} FROM {who}"] if read_only else []),
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)
    return statements
