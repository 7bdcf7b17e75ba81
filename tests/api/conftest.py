"""The API suite runs as the application's database role (`plaudit db
grant`): a role that owns nothing, as `plaudit serve` does in production, so
a request that needed more than the grant fails here."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from plaudit.db.server import DatabaseServer
from tests.conftest import AppRole, committed_database, engine_for


@pytest.fixture(scope="session")
def engine(database_url: str, app_role: AppRole) -> Iterator[Engine]:
    yield from engine_for(app_role.login(database_url))


@pytest.fixture
def committed_db(server: DatabaseServer, template_db: str, app_role: AppRole) -> Iterator[Engine]:
    yield from committed_database(server, template_db, app_role.login)
