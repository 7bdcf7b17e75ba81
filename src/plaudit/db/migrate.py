"""Alembic, driven from code: migrations ship inside the package, so
`plaudit db upgrade` works from any directory without an alembic.ini."""

from alembic import command
from alembic.config import Config


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "plaudit:migrations")
    cfg.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ours(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate's `include_name`: the job queue's tables (procrastinate_*,
    created from its own schema file by our migrations) are not our models'."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> None:
    command.current(alembic_config(url), verbose=False)


def is_at_head(url: str) -> bool:
    """Whether the database's revision is the code's head (one connection, no migration)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads()) == heads
    finally:
        engine.dispose()
