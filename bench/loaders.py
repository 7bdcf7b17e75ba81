"""Bulk loaders that bypass the services: COPY (psycopg) into a migrated database.

They write the rows the services would have written, minus the audit rows
(benchmarks measure the operation, not the set-up). Ids are made in Python
so that child rows can refer to them without a round trip.
"""

from __future__ import annotations

import io
import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from plaudit.models.enums import Role
from plaudit.services.auth import hash_token, new_secret

DAY = timedelta(days=1)
CHUNK = 50_000


def _fmt(value) -> str:
    """One value in COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(str(v) for v in value) + "}"
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY `rows` into `table(columns)` in text format, in chunks; returns the row count."""
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buf = io.StringIO()
        for row in rows:
            buf.write("\t".join(_fmt(v) for v in row))
            buf.write("\n")
            count += 1
            if count % CHUNK == 0:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        if buf.tell():
            copy.write(buf.getvalue())
    return count


def copy_lines(conn: psycopg.Connection, table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
    """COPY preformatted text-format lines (each ending in a newline); returns the row count."""
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == CHUNK:
                copy.write("".join(chunk))
                count += len(chunk)
                chunk = []
        if chunk:
            copy.write("".join(chunk))
            count += len(chunk)
    return count


def skip_triggers(conn: psycopg.Connection) -> bool:
    """Skip foreign-key triggers for this transaction (superusers only): the
    loaders build consistent rows, and the checks would triple the load time.
    Returns whether it worked; without it the load is merely slower."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    conn.execute("SET LOCAL session_replication_role = replica")
    return True


def seq_uuid(kind: int, n: int) -> uuid.UUID:
    """A cheap, unique, deterministic id: `kind` in the top bits, a counter below."""
    return uuid.UUID(int=(kind << 96) | (random.getrandbits(32) << 64) | n)


def make_users(conn: psycopg.Connection, count: int, *, role: Role | str = Role.employee, tag: str) -> list[uuid.UUID]:
    """`count` active users with unique emails `<tag>-<i>@bench.example`."""
    ids = [uuid.uuid4() for _ in range(count)]
    role = Role(role).value
    copy_rows(
        conn,
        "users",
        ("id", "email", "display_name", "role", "is_active"),
        ((uid, f"{tag}-{i}@bench.example", f"{tag.title()} {i:06d}", role, True) for i, uid in enumerate(ids)),
    )
    return ids


def make_tokens(conn: psycopg.Connection, user_ids: Sequence[uuid.UUID]) -> list[str]:
    """One live API token per user (as `create_token` would store it); returns the secrets."""
    secrets = [new_secret() for _ in user_ids]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES (%s, %s, 'bench', %s)",
            [(uuid.uuid4(), uid, hash_token(s)) for uid, s in zip(user_ids, secrets, strict=True)],
        )
    return secrets


@dataclass
class CycleSpec:
    cycle_id: uuid.UUID
    criterion_ids: list[uuid.UUID] = field(default_factory=list)
    rating_min: int = 1
    rating_max: int = 5


def make_cycle(
    conn: psycopg.Connection,
    *,
    now: datetime,
    phase: str,
    criteria: int = 5,
    required_approvals: int = 1,
    max_nominations_per_nominator: int | None = None,
    award_slots: int = 3,
    name: str | None = None,
    winner_cooldown_cycles: int = 0,
) -> CycleSpec:
    """A published cycle with `criteria` equally weighted criteria.

    phase "nominating": both windows open at `now`;
    phase "closed": the approval window closed a day before `now` (ready to finalize).
    """
    if phase == "nominating":
        n_open, n_close, a_open, a_close = now - 5 * DAY, now + 5 * DAY, now - 5 * DAY, now + 6 * DAY
    elif phase == "closed":
        n_open, n_close, a_open, a_close = now - 10 * DAY, now - 5 * DAY, now - 4 * DAY, now - DAY
    else:
        raise ValueError(phase)
    if criteria < 1 or 10_000 % criteria:
        raise ValueError("criteria must divide 1.0000 exactly")
    cycle_id = uuid.uuid4()
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO cycles (id, name, status, nomination_opens_at, nomination_closes_at,
                   approval_opens_at, approval_closes_at, required_approvals,
                   max_nominations_per_nominator, award_slots, published_at, winner_cooldown_cycles)
               VALUES (%s, %s, 'published', %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                cycle_id,
                name or f"Bench cycle {cycle_id.hex[:8]}",
                n_open,
                n_close,
                a_open,
                a_close,
                required_approvals,
                max_nominations_per_nominator,
                award_slots,
                n_open,
                winner_cooldown_cycles,
            ),
        )
        weight = Decimal(10_000 // criteria) / 10_000
        spec = CycleSpec(cycle_id)
        for i in range(criteria):
            cid = uuid.uuid4()
            cur.execute(
                "INSERT INTO criteria (id, cycle_id, name, weight, position) VALUES (%s, %s, %s, %s, %s)",
                (cid, cycle_id, f"Criterion {i + 1}", weight, i),
            )
            spec.criterion_ids.append(cid)
    return spec


def finish_cycles(
    conn: psycopg.Connection, *, now: datetime, count: int, ranked: list[uuid.UUID], winners: list[uuid.UUID]
) -> None:
    """`count` cycles finalized on successive days before `now`, each with a
    result row for every user of `winners` (winning) and of `ranked` (not):
    the award history that eligibility (a cycle's cool-down) reads."""
    for day in range(count):
        spec = make_cycle(conn, now=now - (day + 1) * DAY, phase="closed", name=f"Finished {day + 1}")
        conn.execute(
            "UPDATE cycles SET status = 'finalized', finalized_at = %s WHERE id = %s",
            (now - (day + 1) * DAY, spec.cycle_id),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO cycle_results (id, cycle_id, nominee_id, nominee_name, rank, score,
                       approved_nominations, is_winner, criteria)
                   VALUES (gen_random_uuid(), %s, %s, 'Bench', %s, 4, 1, %s, '[]')""",
                [(spec.cycle_id, user, 1, True) for user in winners]
                + [(spec.cycle_id, user, 2, False) for user in ranked],
            )


def load_ranked_cycle(
    conn: psycopg.Connection,
    *,
    now: datetime,
    nominations: int,
    users: int,
    approvers: int = 100,
    approvals_per_nomination: int = 2,
    criteria: int = 5,
    seed: int = 1,
) -> dict:
    """A cycle ready to finalize: `nominations` approved nominations among
    `users` employees (nominee of nomination i is `(i % users) + 1 + i // users`
    steps further, so pairs are distinct and nobody nominates themself), each
    with `approvals_per_nomination` approvals by admins who are neither
    nominator nor nominee, each with one random rating per criterion.
    Returns counts and the cycle id. Caller commits."""
    if nominations // users + 1 >= users:
        raise ValueError("too few users for that many nominations")
    rng = random.Random(seed)
    people = make_users(conn, users, role=Role.employee, tag="emp")
    admins = make_users(conn, approvers, role=Role.admin, tag="approver")
    spec = make_cycle(
        conn, now=now, phase="closed", criteria=criteria, required_approvals=approvals_per_nomination
    )
    justification = "Consistently goes above and beyond for the team."
    cycle = str(spec.cycle_id)
    people_s = [str(u) for u in people]
    admins_s = [str(u) for u in admins]
    nomination_ids = [str(seq_uuid(1, i)) for i in range(nominations)]
    skip_triggers(conn)

    def nomination_lines():
        for i, nid in enumerate(nomination_ids):
            nominator = i % users
            nominee = (nominator + 1 + i // users) % users
            yield f"{nid}\t{cycle}\t{people_s[nominator]}\t{people_s[nominee]}\t{justification}\tapproved\n"

    copy_lines(
        conn,
        "nominations",
        ("id", "cycle_id", "nominator_id", "nominee_id", "justification", "status"),
        nomination_lines(),
    )
    approval_ids: list[str] = []

    def approval_lines():
        k = 0
        for i, nid in enumerate(nomination_ids):
            for j in range(approvals_per_nomination):
                aid = str(seq_uuid(2, k))
                k += 1
                approval_ids.append(aid)
                yield f"{aid}\t{nid}\t{admins_s[(i + j) % approvers]}\tapprove\n"

    copy_lines(conn, "approvals", ("id", "nomination_id", "approver_id", "decision"), approval_lines())
    lo, hi = spec.rating_min, spec.rating_max
    crit = [str(c) for c in spec.criterion_ids]

    def rating_lines():
        values = [str(v) for v in range(lo, hi + 1)]
        choice = rng.choice
        for a in approval_ids:
            for c in crit:
                yield f"{a}\t{c}\t{choice(values)}\n"

    ratings = copy_lines(conn, "approval_ratings", ("approval_id", "criterion_id", "value"), rating_lines())
    return {
        "cycle_id": spec.cycle_id,
        "users": users + approvers,
        "nominations": nominations,
        "approvals": len(approval_ids),
        "ratings": ratings,
        "criteria": criteria,
    }


def now_utc() -> datetime:
    """Wall-clock "now" for set-up only (the services get a FixedClock)."""
    return datetime.now(UTC).replace(microsecond=0)


def payload_json(**after) -> str:
    return json.dumps({"after": {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in after.items()}})
