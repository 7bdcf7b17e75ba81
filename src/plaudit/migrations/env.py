"""Alembic environment: online only, against the connection or URL we are given."""

from alembic import context
from sqlalchemy import create_engine, pool

from plaudit.db.migrate import ours
from plaudit.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from plaudit.db.session import resolve_database_url

        url = resolve_database_url()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_name=ours
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
