"""Shared plumbing for the benchmarks: a throwaway database, timing, reporting.

Which server: `DATABASE_URL` if set (any PostgreSQL whose user may CREATE
DATABASE), else the embedded server in `.pgdata/bench` (or
`PLAUDIT_BENCH_DATA_DIR`). Each benchmark creates its own fresh database,
migrated to head, and drops it afterwards.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from plaudit.db import migrate
from plaudit.db.session import normalize_url

ROOT = Path(__file__).resolve().parent.parent


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalize_url(url)
    from plaudit.db.embedded import embedded_url

    data_dir = Path(os.environ.get("PLAUDIT_BENCH_DATA_DIR", ROOT / ".pgdata" / "bench"))
    return embedded_url(data_dir)


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server where the benchmarks may create databases."""

    url: str

    def url_for(self, database: str) -> str:
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def libpq_for(self, database: str) -> str:
        """A plain libpq URL (for psycopg.connect)."""
        return (
            make_url(self.url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)
        )

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.libpq_for(make_url(self.url).database or "postgres"), autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.admin() as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def fresh_database(self, prefix: str, *, template: str | None = None, migrated: bool = True) -> Iterator[str]:
        """A new database (migrated to head unless cloned from a template); dropped afterwards.
        Yields its name; use `url_for` / `libpq_for` for URLs."""
        name = f"plaudit_bench_{prefix}_{uuid.uuid4().hex[:8]}"
        url = self.create_database(name, template=template)
        try:
            if migrated and template is None:
                migrate.upgrade(url)
            yield name
        finally:
            self.drop_database(name)


def libpq(url: str) -> str:
    """A SQLAlchemy `postgresql+psycopg://` URL as a plain libpq URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """One benchmark's verdict, for the summary at the end."""

    name: str
    ratio: float | None
    target: str
    passed: bool | None  # None: could not be measured
    note: str = ""


def block(title: str, lines: list[str], outcome: Outcome) -> Outcome:
    """Print a benchmark's figures, ratio, target and verdict as one block."""
    verdict = {True: "PASS", False: "MISS", None: "SKIPPED"}[outcome.passed]
    width = 72
    print("=" * width)
    print(title)
    print("-" * width)
    for line in lines:
        print(f"  {line}")
    if outcome.ratio is not None:
        print(f"  ratio:  {outcome.ratio:.3f}")
    print(f"  target: {outcome.target}")
    print(f"  result: {verdict}" + (f"  ({outcome.note})" if outcome.note else ""))
    print("=" * width, flush=True)
    return outcome
