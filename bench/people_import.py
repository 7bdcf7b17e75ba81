"""D. The people import of a new organisation beside a bare baseline.

The file: N people in T teams (the first row of each team is its manager,
named in `team_manager_email` on every row of the team), as HR would send it.

Per repeat, each on its own fresh copy of a migrated database holding one
admin (CREATE DATABASE ... TEMPLATE), alternating:
- baseline: raw psycopg, one transaction: `COPY` of the file into a
  temporary table (the server parses the CSV), one `INSERT ... ON CONFLICT`
  of the teams and one of the users, each with the `INSERT ... SELECT` of
  its audit rows in the same statement; no checks, no report, no managers;
- import: `import_people(session, admin, data)` in a committed transaction,
  i.e. everything `POST /imports/people` does but HTTP; then, timed apart,
  the same file again (every row `unchanged`).
Figures are the best (lowest) over the repeats. Python's peak memory
(tracemalloc) of one import is taken on another copy, apart from timing
(tracing slows Python down).
"""

from __future__ import annotations

import time
import tracemalloc
import uuid

import psycopg

from bench.common import Outcome, Server, block, log

IMPORT_TARGET = 0.5  # import rate >= 50 % of the baseline's
REIMPORT_TARGET = 2.0  # an unchanged re-import >= 2x faster than the first


def make_file(people: int, teams: int) -> bytes:
    lines = ["email,display_name,role,team,team_manager_email"]
    per_team = max(1, people // teams)
    for n in range(people):
        t = min(n // per_team, teams - 1)
        boss = f"boss.{t}@org.example"
        if n % per_team == 0 and n // per_team < teams:
            lines.append(f"{boss},Boss {t},manager,Team {t},{boss}")
        else:
            lines.append(f"person.{n}@org.example,Person {n},employee,Team {t},{boss}")
    return ("\n".join(lines) + "\n").encode()


BASELINE = [
    "CREATE TEMP TABLE import_rows (email text, display_name text, role text, team text, "
    "team_manager_email text) ON COMMIT DROP",
    None,  # COPY
    """WITH t AS (
         INSERT INTO teams (name)
         SELECT DISTINCT ON (lower(team)) team FROM import_rows WHERE team <> '' ORDER BY lower(team)
         ON CONFLICT (lower(name)) DO NOTHING RETURNING id, name
       )
       INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, payload)
       SELECT %(actor)s, 'team.create', 'team', id,
              jsonb_build_object('after', jsonb_build_object('name', name, 'manager_id', NULL)) FROM t""",
    """WITH u AS (
         INSERT INTO users (email, display_name, role, team_id, is_active)
         SELECT lower(r.email), r.display_name, r.role, t.id, true
         FROM import_rows r LEFT JOIN teams t ON lower(t.name) = lower(r.team)
         ON CONFLICT (email) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                                           team_id = excluded.team_id
         RETURNING id, email, display_name, role, team_id, is_active
       )
       INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, payload)
       SELECT %(actor)s, 'user.create', 'user', id,
              jsonb_build_object('after', jsonb_build_object('email', email, 'display_name', display_name,
                                 'role', role, 'team_id', team_id, 'is_active', is_active)) FROM u""",
]


def run_baseline(libpq: str, data: bytes, admin_id: uuid.UUID) -> float:
    with psycopg.connect(libpq) as conn:
        started = time.perf_counter()
        with conn.transaction():
            for sql in BASELINE:
                if sql is None:
                    with conn.cursor().copy("COPY import_rows FROM STDIN (FORMAT csv, HEADER true)") as copy:
                        copy.write(data)
                else:
                    conn.execute(sql, {"actor": admin_id})
        return time.perf_counter() - started


def run_import(url: str, data: bytes, admin_id: uuid.UUID, *, memory: bool = False):
    """Seconds of one import in its own committed transaction, its report, and the peak (or None)."""
    from sqlalchemy.orm import Session

    from plaudit.clock import system_clock
    from plaudit.db.session import make_engine, make_sessionmaker
    from plaudit.models import User
    from plaudit.services.imports import import_people

    engine = make_engine(url, pool_size=1)
    try:
        factory = make_sessionmaker(engine)
        with factory() as warm:  # connect outside the timing
            warm.connection()
            admin = Session.get(warm, User, admin_id)
            warm.expunge(admin)
            warm.commit()
        if memory:
            tracemalloc.start()
            tracemalloc.reset_peak()
        started = time.perf_counter()
        with factory() as session, session.begin():
            report = import_people(session, admin, data, now=system_clock.now())
        elapsed = time.perf_counter() - started
        peak = None
        if memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return elapsed, report, peak
    finally:
        engine.dispose()


def make_template(server: Server) -> tuple[str, uuid.UUID]:
    from plaudit.db import migrate

    name = f"plaudit_bench_import_tpl_{uuid.uuid4().hex[:6]}"
    url = server.create_database(name)
    migrate.upgrade(url)
    admin_id = uuid.uuid4()
    with psycopg.connect(server.libpq_for(name)) as conn:
        conn.execute("INSERT INTO users (id, email, display_name, role) VALUES (%s, 'hr@org.example', 'HR', 'admin')",
                     (admin_id,))
    return name, admin_id


def run(server: Server, *, people: int = 50_000, teams: int = 200, repeats: int = 3) -> Outcome:
    title = f"D. people import vs bare COPY + upsert ({people:,} new people in {teams} teams, {repeats} repeats)"
    data = make_file(people, teams)
    template, admin_id = make_template(server)
    baseline, first, again = [], [], []
    peak = None
    try:
        for r in range(repeats + 1):
            with server.fresh_database("plaudit_bench_import", template=template) as name:
                if r == repeats:  # memory, untimed
                    _, report, peak = run_import(server.url_for(name), data, admin_id, memory=True)
                    continue
                if r % 2:
                    baseline.append(run_baseline(server.libpq_for(name), data, admin_id))
                with server.fresh_database("plaudit_bench_import", template=template) as other:
                    seconds, report, _ = run_import(server.url_for(other), data, admin_id)
                    assert report.created == people and report.teams_created == teams, report.created
                    first.append(seconds)
                    seconds, report, _ = run_import(server.url_for(other), data, admin_id)
                    assert report.unchanged == people, report.unchanged
                    again.append(seconds)
                if not r % 2:
                    baseline.append(run_baseline(server.libpq_for(name), data, admin_id))
                log(f"repeat {r + 1}: baseline {baseline[-1]:.2f} s, import {first[-1]:.2f} s, "
                    f"re-import {again[-1]:.2f} s")
    finally:
        server.drop_database(template)
    base_rate, import_rate = people / min(baseline), people / min(first)
    ratio = import_rate / base_rate
    speedup = min(first) / min(again)
    passed = ratio >= IMPORT_TARGET and speedup >= REIMPORT_TARGET
    lines = [
        f"file: {len(data) / 1e6:.1f} MB, {people:,} rows",
        f"baseline (COPY + upsert + audit rows): {min(baseline):.2f} s = {base_rate:,.0f} rows/s",
        f"import (parse, check, plan, apply):    {min(first):.2f} s = {import_rate:,.0f} rows/s",
        f"re-import of the same file (unchanged): {min(again):.2f} s ({speedup:.1f}x faster than the first; "
        f"target >= {REIMPORT_TARGET:.0f}x)",
        f"Python peak memory of one import (tracemalloc): {peak / 2**20:.1f} MiB "
        f"({peak / len(data):.1f}x the file)" if peak else "peak memory: n/a",
    ]
    return block(title, lines, Outcome(
        "D people import", ratio, f">= {IMPORT_TARGET} of baseline rate; re-import >= {REIMPORT_TARGET:.0f}x faster",
        passed, note=f"re-import {speedup:.1f}x"))
