"""Test database plumbing, on real PostgreSQL only.

Which server: `PLAUDIT_TEST_DATABASE_URL` (any PostgreSQL; the tests create
and drop their own databases in it, so give a user that may CREATE DATABASE),
else an embedded PostgreSQL in `.pgdata/test` (or `PLAUDIT_TEST_DATA_DIR`).

Per run: a template database migrated to head once; the main test database
is cloned from it. Per test: `session` is a transaction rolled back at the end
(services' flushes included), and `client` is the real ASGI app on that same
connection, so HTTP tests roll back too. Tests that need real concurrent
transactions take `committed_db`: a fresh database cloned from the template.
"""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from plaudit.api.app import create_app
from plaudit.cli import app as cli_app
from plaudit.clock import FixedClock
from plaudit.config import get_settings
from plaudit.db import grants, migrate
from plaudit.db.server import DatabaseServer
from plaudit.db.session import default_engine, make_engine

ROOT = Path(__file__).resolve().parent.parent
# The pinned "now" of every test that does not move it: a Thursday noon UTC.
NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def server() -> DatabaseServer:
    data_dir = Path(os.environ.get("PLAUDIT_TEST_DATA_DIR", ROOT / ".pgdata" / "test"))
    return DatabaseServer.from_env("PLAUDIT_TEST_DATABASE_URL", data_dir)


@dataclass(frozen=True)
class AppRole:
    """A database role that owns nothing, granted what `plaudit db grant`
    grants (on the template, so on every database cloned from it): the role
    production's `plaudit serve` runs as. `tests/api` connects as it."""

    name: str
    password: str

    def login(self, url: str) -> str:
        """`url` (of any database on the test server) logging in as this role."""
        return make_url(url).set(username=self.name, password=self.password).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def app_role(server: DatabaseServer) -> Iterator[AppRole]:
    role = AppRole(f"plaudit_app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    with server.admin() as conn:
        conn.execute(f"CREATE ROLE {role.name} LOGIN PASSWORD '{role.password}'")
    try:
        yield role
    finally:
        with server.admin() as conn:  # every database it had privileges in is dropped by now
            conn.execute(f"DROP ROLE IF EXISTS {role.name}")


@pytest.fixture(scope="session")
def template_db(server: DatabaseServer, app_role: AppRole) -> Iterator[str]:
    """A database migrated to head and granted to `app_role`, never connected
    to afterwards (so it can be cloned)."""
    name = f"plaudit_tpl_{uuid.uuid4().hex[:10]}"
    url = server.create_database(name)
    try:
        migrate.upgrade(url)
        granting = make_engine(url, pool_size=1)
        with granting.begin() as conn:
            grants.grant(conn, app_role.name)
        granting.dispose()
        yield name
    finally:
        server.drop_database(name)


@pytest.fixture(scope="session")
def database_url(server: DatabaseServer, template_db: str) -> Iterator[str]:
    name = f"plaudit_test_{uuid.uuid4().hex[:10]}"
    url = server.create_database(name, template=template_db)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    yield from engine_for(database_url)


def engine_for(url: str) -> Iterator[Engine]:
    eng = make_engine(url, pool_pre_ping=False)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in one outer transaction, rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions on the test's connection; their commits become savepoints."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def app(session_factory: sessionmaker[Session], clock: FixedClock):
    return create_app(session_factory=session_factory, clock=clock)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def committed_db(server: DatabaseServer, template_db: str) -> Iterator[Engine]:
    """A fresh migrated database whose transactions really commit; for
    concurrency tests with several connections, threads or processes."""
    yield from committed_database(server, template_db)


def committed_database(server: DatabaseServer, template_db: str, login=lambda url: url) -> Iterator[Engine]:
    name = f"plaudit_c_{uuid.uuid4().hex[:10]}"
    url = server.create_database(name, template=template_db)
    eng = make_engine(login(url), pool_size=20, max_overflow=20)
    try:
        yield eng
    finally:
        eng.dispose()
        server.drop_database(name)


@pytest.fixture
def cli(committed_db, monkeypatch, tmp_path):
    """Run `plaudit ...` in-process (a `CliRunner` result) with DATABASE_URL
    pointing at the committed database."""
    url = committed_db.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PLAUDIT_DATA_DIR", str(tmp_path / "unused"))
    get_settings.cache_clear()
    default_engine.cache_clear()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, list(args), env={"DATABASE_URL": url})

    yield run
    default_engine().dispose()
    get_settings.cache_clear()
    default_engine.cache_clear()
