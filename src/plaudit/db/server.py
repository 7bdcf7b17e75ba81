"""A PostgreSQL server to make throwaway databases on, for the tests and the
benchmarks: the URL from an environment variable, else an embedded server."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from plaudit.db import migrate
from plaudit.db.session import normalize_url


@dataclass(frozen=True)
class DatabaseServer:
    """A server whose user may CREATE DATABASE (`url` names any database on it)."""

    url: str

    @classmethod
    def from_env(cls, variable: str, data_dir: Path) -> "DatabaseServer":
        """The server at `$variable`, or an embedded one in `data_dir`."""
        url = os.environ.get(variable)
        if url:
            return cls(normalize_url(url))
        from plaudit.db.embedded import embedded_url

        return cls(embedded_url(data_dir))

    def url_for(self, database: str) -> str:
        """A SQLAlchemy URL of `database` on this server."""
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def libpq_for(self, database: str) -> str:
        """A plain libpq URL of `database` (for psycopg.connect)."""
        return (
            make_url(self.url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)
        )

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.libpq_for(make_url(self.url).database or "postgres"), autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create `name` (a copy of `template` if given); return its URL."""
        with self.admin() as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def fresh_database(self, prefix: str, *, template: str | None = None, migrated: bool = True) -> Iterator[str]:
        """A new database named `<prefix>_<random>` (migrated to head unless
        cloned from `template`), dropped afterwards. Yields its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        url = self.create_database(name, template=template)
        try:
            if migrated and template is None:
                migrate.upgrade(url)
            yield name
        finally:
            self.drop_database(name)
