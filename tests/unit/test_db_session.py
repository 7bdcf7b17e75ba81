"""Engine and transaction plumbing: UTC sessions, URL normalisation, and the
CLI's `transaction()` (commit on success, roll back on error)."""

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from plaudit.db.session import make_engine, make_sessionmaker, normalize_url, transaction
from plaudit.models import Team


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://postgres:@/db?host=/tmp/sock", "postgresql+psycopg://postgres:@/db?host=/tmp/sock"),
    ],
)
def test_urls_are_driven_by_psycopg_3(given, expected):
    assert normalize_url(given) == expected


def test_sessions_run_in_utc(engine: Engine):
    with engine.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
        now = conn.execute(select(func.now())).scalar()
    assert now.utcoffset() == timedelta(0)


def test_a_caller_given_connect_args_keep_utc(database_url: str):
    eng = make_engine(database_url, connect_args={"connect_timeout": 5})
    try:
        with eng.connect() as conn:
            assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
    finally:
        eng.dispose()


def _teams(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Team).where(Team.name == name)).scalar()


def test_transaction_commits_on_success(committed_db: Engine):
    with transaction(make_sessionmaker(committed_db)) as session:
        session.add(Team(name="Kept"))
    assert _teams(committed_db, "Kept") == 1


def test_transaction_rolls_back_on_error(committed_db: Engine):
    with pytest.raises(RuntimeError):
        with transaction(make_sessionmaker(committed_db)) as session:
            session.add(Team(name="Lost"))
            session.flush()
            raise RuntimeError("boom")
    assert _teams(committed_db, "Lost") == 0
