"""The people import: HR's CSV export loaded in one transaction
(DOMAIN.md "People import"), in three steps:

- `parse` reads the file (UTF-8, BOM allowed, RFC 4180) into rows, checking
  every cell on its own;
- `plan` reads the stored users and teams the file touches (a few set-based
  queries, whatever the file's size), checks the rules that need them and
  decides each row's action: the dry run stops here;
- `apply` writes the plan in a fixed number of set-based statements, each
  with its audit rows in the same statement: new users are inserted from the
  temporary table `import_rows` (the file's rows, COPYed once by `plan`),
  the rest are multi-row INSERT/UPDATEs over `unnest` arrays. So 50,000 rows
  are a handful of round trips, not 50,000.

All or nothing: every bad row is reported (`import_invalid`, `errors:
[{line, column, msg}]`, sorted by line) and nothing changes.

Decisions where the spec is silent:
- header names are trimmed and case-insensitive; roles and `true`/`false`
  are case-insensitive; an empty `active` cell means true; a line with
  only empty cells is skipped;
- a column left out of the header leaves that attribute alone: without
  `team`, users keep their teams; without `team_manager_email`, teams keep
  their managers. An empty `team` cell takes the user out of their team;
  an empty `team_manager_email` on every row of a team leaves its manager
  alone (an import never removes a manager);
- a team found by name (any case) keeps its stored spelling;
- the manager a file names must end up active with role manager or admin
  (as `PATCH /teams` requires); a user who manages a team, in the stored
  state or the file's, cannot lose that role (as `PATCH /users` requires);
- a new user may be created inactive (`active=false`): one `user.create`
  row with `is_active: false`;
- deactivating a user (a row with `active=false`, or `deactivate_missing`)
  revokes their tokens, with one `token.revoke` row each;
- in the report, `deactivate` is the action of users missing from the file
  (their `line` is null); a row that sets `active=false` is an `update`;
- errors that belong to no line (the last active admin deactivated because
  missing from the file) have `line` null;
- imports serialize with each other and with single user and team changes
  (a SHARE ROW EXCLUSIVE lock on both tables, taken before reading; reads
  and nominations go on), and with changes of who is admin (the same
  advisory lock as `users.update_user`).
"""

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from plaudit.db.driver import driver_of
from plaudit.errors import ImportInvalid
from plaudit.models import User
from plaudit.models.enums import Role
from plaudit.schemas.imports import ImportReport
from plaudit.services import audit, tokens
from plaudit.services.users import ADMIN_SET_LOCK, MANAGER_ROLES, normalize_email, require_admin
from plaudit.services.validation import normalize_name

COLUMNS = ("email", "display_name", "role", "team", "team_manager_email", "active")
REQUIRED = ("email", "display_name", "role")
ROLES = ", ".join(Role)
ROLE_VALUES = frozenset(Role)
# Report progress every this many rows while parsing.
PROGRESS_STEP = 2_000


class _Keep(Enum):
    """An attribute whose column the file does not have: left as stored."""

    KEEP = "KEEP"


KEEP: Final = _Keep.KEEP

Progress = Callable[[str, int, int], None]
"""`progress(stage, done, total)`: called while an import runs (for a progress bar)."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    email: str
    display_name: str
    role: str
    team: str | None | _Keep  # None: no team
    manager_email: str | None | _Keep  # None: the cell is empty
    active: bool


@dataclass
class Parsed:
    rows: list[Row]
    errors: list[dict[str, Any]]
    bad_emails: set[str]  # emails of rows with errors: their state is unknown
    sha256: str


def _error(line: int | None, column: str | None, msg: str) -> dict[str, Any]:
    return {"line": line, "column": column, "msg": msg}


def _invalid(errors: list[dict[str, Any]]) -> ImportInvalid:
    errors.sort(key=lambda e: (e["line"] is not None, e["line"] or 0))
    first = errors[0]
    where = f"line {first['line']}" if first["line"] is not None else "the file"
    return ImportInvalid(f"{len(errors)} error(s) in the file; the first, at {where}: {first['msg']}", errors=errors)


def _active(value: str) -> bool:
    flag = value.strip().lower()
    if flag in ("", "true"):
        return True
    if flag == "false":
        return False
    raise ValueError("must be true or false")


def _role(value: str) -> str:
    role = value.strip().lower()
    if role not in ROLE_VALUES:
        raise ValueError(f"must be one of {ROLES}")
    return role


def _email_or_none(value: str) -> str | None:
    return normalize_email(value) if value.strip() else None


def _team_or_none(value: str) -> str | None:
    return normalize_name(value) if value.strip() else None


CHECKS: dict[str, Callable[[str], Any]] = {
    "email": normalize_email,
    "display_name": normalize_name,
    "role": _role,
    "team": _team_or_none,
    "team_manager_email": _email_or_none,
    "active": _active,
}


def _memo(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """`check`, each distinct value computed once (a ValueError too)."""
    seen: dict[str, Any] = {}

    def memo(cell: str) -> Any:
        if cell not in seen:
            try:
                seen[cell] = check(cell)
            except ValueError as exc:
                seen[cell] = exc
        found = seen[cell]
        if isinstance(found, ValueError):
            raise found
        return found

    return memo


def parse(data: bytes, progress: Progress | None = None) -> Parsed:
    """The file's rows, and an error for every bad cell or row (the header's
    errors alone stop the parse: without it no row can be read)."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid([_error(data.count(b"\n", 0, exc.start) + 1, None, "the file is not valid UTF-8")]) from None
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    records = _records(reader)
    header_line, header = next(records, (1, []))
    columns = [name.strip().lower() for name in header]
    errors = [_error(header_line, name or None, f"unknown column; the columns are {', '.join(COLUMNS)}")
              for name in columns if name not in COLUMNS]
    errors += [_error(header_line, name, "column given twice")
               for i, name in enumerate(columns) if name in columns[:i] and name in COLUMNS]
    errors += [_error(header_line, name, "required column missing") for name in REQUIRED if name not in columns]
    if errors:
        raise _invalid(errors)

    total = content.count("\n") or 1
    rows: list[Row] = []
    bad_emails: set[str] = set()
    first_line: dict[str, int] = {}  # email -> its line
    team_first: dict[str, tuple[int, str | None | _Keep]] = {}  # team key -> (line, manager email)
    # A team's name and manager repeat on every row of the team: each distinct cell is checked once.
    checks = [(name, _memo(CHECKS[name]) if name in ("team", "team_manager_email") else CHECKS[name])
              for name in columns]
    try:
        for line, record in records:
            if progress is not None and len(rows) % PROGRESS_STEP == 0:
                progress("parse", line, total)
            if len(record) != len(columns):
                errors.append(_error(line, None, f"has {len(record)} fields; the header has {len(columns)}"))
                continue
            values: dict[str, Any] = {}
            row_errors = []
            for (name, check), cell in zip(checks, record, strict=True):
                if name in REQUIRED and not cell.strip():
                    row_errors.append(_error(line, name, "required"))
                    continue
                try:
                    values[name] = check(cell)
                except ValueError as exc:
                    row_errors.append(_error(line, name, str(exc)))
            email = values.get("email")
            if email is not None:
                if email in first_line:
                    row_errors.append(_error(line, "email", f"{email} is also on line {first_line[email]}"))
                else:
                    first_line[email] = line
            team = values.get("team", KEEP)
            manager = values.get("team_manager_email", KEEP)
            if manager not in (None, KEEP) and team in (None, KEEP):
                row_errors.append(_error(line, "team_manager_email", "a team manager needs a team on the row"))
            elif isinstance(team, str) and "team_manager_email" in values:
                seen = team_first.setdefault(team.lower(), (line, manager))
                if seen[1] != manager:
                    row_errors.append(_error(
                        line, "team_manager_email",
                        f"differs from line {seen[0]} ({seen[1] or 'empty'}) for team {team!r}; "
                        "every row of a team names the same manager",
                    ))
            if row_errors:
                errors += row_errors
                if email is not None:
                    bad_emails.add(email)
                continue
            rows.append(Row(line, values["email"], values["display_name"], values["role"], team, manager,
                            values.get("active", True)))
    except csv.Error as exc:
        errors.append(_error(reader.line_num, None, f"not valid CSV: {exc}"))
    if progress is not None:
        progress("parse", total, total)
    return Parsed(rows, errors, bad_emails, sha256)


def _records(reader: Any) -> Iterable[tuple[int, list[str]]]:
    """(the line a record starts on, its cells), skipping lines of empty cells."""
    line = 1
    for record in reader:
        if any(cell.strip() for cell in record):
            yield line, record
        line = reader.line_num + 1


USER_COLUMNS = ("display_name", "role", "team_id", "is_active")  # what a row may change


@dataclass(frozen=True, slots=True)
class Stored:
    id: uuid.UUID
    display_name: str
    role: str
    team_id: uuid.UUID | None
    is_active: bool


@dataclass(frozen=True, slots=True)
class Missing:
    id: uuid.UUID
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class StoredTeam:
    id: uuid.UUID
    name: str
    manager_email: str | None


@dataclass
class Plan:
    sha256: str
    new_teams: dict[str, tuple[uuid.UUID, str]] = field(default_factory=dict)  # key -> (id, name)
    creates: int = 0  # new users: the file's rows whose email is not stored (in `import_rows`)
    updates: list[tuple[uuid.UUID, Row, uuid.UUID | None, str]] = field(default_factory=list)  # ..., payload
    deactivations: list[uuid.UUID] = field(default_factory=list)  # missing from the file
    managers: list[tuple[uuid.UUID, str, bool]] = field(default_factory=list)  # (team, manager email, created)
    inactive: list[uuid.UUID] = field(default_factory=list)  # every user deactivated: revoke their tokens
    report: ImportReport = field(init=False)  # set last, once every row's action is known


_STORED_USERS = """
SELECT f.email IS NOT NULL, u.email, u.id, u.display_name, u.role, u.team_id, u.is_active
FROM users u LEFT JOIN import_rows f ON f.email = u.email
WHERE CASE WHEN f.email IS NULL THEN u.is_active AND (u.role = 'admin' OR :all)
           ELSE f.line IS NOT NULL AND (
               (u.role = 'admin' AND u.is_active)
               OR u.display_name IS DISTINCT FROM f.display_name OR u.role IS DISTINCT FROM f.role
               OR u.is_active IS DISTINCT FROM f.is_active
               OR (NOT f.keep_team AND u.team_id IS DISTINCT FROM f.team_id))
      END
ORDER BY u.email
"""


def _fetch(session: Session, sql: str, **params: Any) -> list[Any]:
    return session.execute(text(sql), params).all()


def _load_rows(session: Session, rows: list[Row], bad_emails: set[str], team_ids: dict[str, uuid.UUID]) -> None:
    """The file's rows into the temporary table `import_rows` (dropped at
    commit) with one COPY, for the plan's joins and the creation of new users
    (`team_id`: the row's team; `keep_team`: the file has no team column).
    Bad rows' emails come too (line null), so that their users do not count
    as missing."""
    session.execute(text("DROP TABLE IF EXISTS pg_temp.import_rows"))
    session.execute(text(
        "CREATE TEMP TABLE import_rows (line int, email text NOT NULL, display_name text, role text, "
        "team_id uuid, keep_team boolean, is_active boolean) ON COMMIT DROP"
    ))
    with driver_of(session).cursor() as cursor:
        with cursor.copy("COPY import_rows FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.line, row.email, row.display_name, row.role,
                                _team_id(row.team, None, team_ids), row.team is KEEP, row.active))
            for email in bad_emails:
                copy.write_row((None, email, None, None, None, None, None))
    session.execute(text("ANALYZE import_rows"))


def plan(
    session: Session, actor: User | None, parsed: Parsed, *, deactivate_missing: bool, dry_run: bool
) -> Plan:
    """Each row's action and the changes to make; `import_invalid` with every
    error of the file and of the rules that need the stored state."""
    rows = parsed.rows
    errors = list(parsed.errors)
    teams = {r.key: StoredTeam(r.id, r.name, r.manager_email) for r in _fetch(
        session,
        "SELECT lower(t.name) AS key, t.id, t.name, m.email AS manager_email "
        "FROM teams t LEFT JOIN users m ON m.id = t.manager_id",
    )}
    result = Plan(sha256=parsed.sha256)
    team_rows: dict[str, Row] = {}
    for row in rows:
        if isinstance(row.team, str):
            team_rows.setdefault(row.team.lower(), row)
    result.new_teams = {key: (uuid.uuid4(), row.team) for key, row in team_rows.items()  # type: ignore[misc]
                        if key not in teams}
    in_file = {row.email: row for row in rows}
    team_ids = {key: team.id for key, team in teams.items()} | {key: t[0] for key, t in result.new_teams.items()}
    _load_rows(session, rows, parsed.bad_emails - in_file.keys(), team_ids)
    # The stored users that matter, compared in SQL so that an unchanged
    # organisation sends nothing back: those a row changes, the active admins
    # (the last-admin rule), and the active users missing from the file that
    # are admins or, with deactivate_missing, all of them.
    stored: dict[str, Stored] = {}
    missing = []
    for in_the_file, email, *values in _fetch(session, _STORED_USERS, all=deactivate_missing):
        if in_the_file:
            stored[email] = Stored(*values)
        else:
            missing.append(Missing(values[0], email, values[2]))
    new_lines = set(session.scalars(text(
        "SELECT f.line FROM import_rows f "
        "WHERE f.line IS NOT NULL AND NOT EXISTS (SELECT FROM users u WHERE u.email = f.email)"
    )))
    named = {row.manager_email for row in rows if isinstance(row.manager_email, str)}
    outside = {r.email: r for r in _fetch(
        session, "SELECT email, id, role, is_active FROM users WHERE email = ANY(CAST(:emails AS text[]))",
        emails=sorted(named - in_file.keys() - parsed.bad_emails),
    )}
    actor_id = audit.actor_id_of(actor)
    kept_missing = [m for m in missing if not deactivate_missing or m.id == actor_id]
    leaving = {m.email for m in missing} - {m.email for m in kept_missing}

    # Teams: created when missing; their manager as the file says.
    for key, row in team_rows.items():
        stored_team = teams.get(key)
        manager = row.manager_email
        if isinstance(manager, str):
            problem = _manager_problem(manager, in_file, outside, leaving, parsed.bad_emails)
            if problem:
                errors.append(_error(row.line, "team_manager_email", problem))
        if stored_team is None:
            team_id = result.new_teams[key][0]
            result.managers.append((team_id, manager if isinstance(manager, str) else None, True))
        elif isinstance(manager, str) and manager != stored_team.manager_email:
            result.managers.append((stored_team.id, manager, False))

    # A team's manager keeps a manager role (the stored manager, unless the file names another).
    for key, stored_team in teams.items():
        new_manager = team_rows[key].manager_email if key in team_rows else KEEP
        manager = new_manager if isinstance(new_manager, str) else stored_team.manager_email
        row = in_file.get(manager) if manager else None
        if row is not None and row.role not in MANAGER_ROLES:
            errors.append(_error(row.line, "role",
                                 f"{row.email} manages {stored_team.name!r}; assign another manager first"))

    # The last active admin stays.
    admins_after = sum(1 for row in rows if row.role == Role.admin and row.active)
    admins_after += sum(1 for m in kept_missing if m.role == Role.admin)
    admins_before = sum(1 for s in stored.values() if s.role == Role.admin and s.is_active)
    admins_before += sum(1 for m in missing if m.role == Role.admin)
    if admins_before and not admins_after and not parsed.bad_emails:
        demoting = [row for row in rows if (s := stored.get(row.email)) and s.role == Role.admin and s.is_active]
        for row in demoting:
            errors.append(_error(row.line, "role" if row.role != Role.admin else "active",
                                 "this would leave no active admin; keep one"))
        if not demoting:
            errors.append(_error(None, None, "deactivate_missing would deactivate every active admin"))
    if errors:
        raise _invalid(errors)

    # Each row's action (the report's rows as dicts: pydantic validates them all at once, fast).
    counts = dict.fromkeys(("create", "update", "unchanged"), 0)
    rows_out: list[dict[str, Any]] = []
    for row in rows:
        old = stored.get(row.email)
        team_id = _team_id(row.team, old, team_ids)
        if row.line in new_lines:
            result.creates += 1
            action = "create"
        elif old is None or (old.display_name, old.role, old.team_id, old.is_active) == (
                row.display_name, row.role, team_id, row.active):
            action = "unchanged"
        else:
            new = Stored(old.id, row.display_name, row.role, team_id, row.active)
            changed = [f for f in USER_COLUMNS if getattr(old, f) != getattr(new, f)]
            payload = {"before": {f: audit.to_json(getattr(old, f)) for f in changed},
                       "after": {f: audit.to_json(getattr(new, f)) for f in changed}}
            result.updates.append((old.id, row, team_id, json.dumps(payload)))
            if old.is_active and not row.active:
                result.inactive.append(old.id)
            action = "update"
        counts[action] += 1
        rows_out.append({"line": row.line, "email": row.email, "action": action})
    for m in missing:
        if m.email in leaving:
            result.deactivations.append(m.id)
            rows_out.append({"line": None, "email": m.email, "action": "deactivate"})
    result.inactive += result.deactivations
    result.report = ImportReport(
        dry_run=dry_run, created=counts["create"], updated=counts["update"], unchanged=counts["unchanged"],
        deactivated=len(result.deactivations), teams_created=len(result.new_teams), rows=rows_out,
    )
    return result


def _manager_problem(email: str, in_file: dict[str, Row], outside: dict[str, Any], leaving: set[str],
                     bad_emails: set[str]) -> str | None:
    """Why `email` cannot manage a team after the import, or None."""
    row = in_file.get(email)
    if row is not None:
        role, active = row.role, row.active
    elif email in bad_emails:
        return None  # its own row is reported
    elif email in outside:
        role, active = outside[email].role, outside[email].is_active and email not in leaving
    else:
        return f"no user {email} in the file or stored"
    if role not in MANAGER_ROLES:
        return f"{email} must have role manager or admin to manage a team, not {role}"
    if not active:
        return f"{email} must be active to manage a team"
    return None


def _team_id(team: str | None | _Keep, old: Stored | None, team_ids: dict[str, uuid.UUID]) -> uuid.UUID | None:
    """The team a row puts its user in (`team_ids`: every team by lower-case name, new ones too)."""
    if team is KEEP:
        return old.team_id if old is not None else None
    return None if team is None else team_ids[team.lower()]


# --- apply: a fixed number of statements -----------------------------------

_AUDIT_COLUMNS = "INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, payload, request_id)"

_INSERT_TEAMS = """
INSERT INTO teams (id, name) SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]))
"""

_CREATE_USERS = f"""
WITH new AS (
    INSERT INTO users (email, display_name, role, team_id, is_active)
    SELECT r.email, r.display_name, r.role, r.team_id, r.is_active FROM import_rows r
    WHERE r.line IS NOT NULL AND NOT EXISTS (SELECT FROM users u WHERE u.email = r.email)
    ORDER BY r.line
    RETURNING id, email, display_name, role, team_id, is_active
)
{_AUDIT_COLUMNS}
SELECT :actor_id, 'user.create', 'user', id,
       jsonb_build_object('after', jsonb_build_object('email', email, 'display_name', display_name,
                          'role', role, 'team_id', team_id, 'is_active', is_active)),
       :request_id
FROM new
"""

_UPDATE_USERS = f"""
WITH f AS (
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), CAST(:roles AS text[]),
                         CAST(:team_ids AS uuid[]), CAST(:actives AS boolean[]), CAST(:payloads AS jsonb[]))
                  AS f(id, display_name, role, team_id, is_active, payload)
), changed AS (
    UPDATE users u SET display_name = f.display_name, role = f.role, team_id = f.team_id,
                       is_active = f.is_active, updated_at = now()
    FROM f WHERE u.id = f.id
    RETURNING u.id
)
{_AUDIT_COLUMNS}
SELECT :actor_id, 'user.update', 'user', f.id, f.payload, :request_id FROM f JOIN changed USING (id)
"""

_DEACTIVATE_USERS = f"""
WITH changed AS (
    UPDATE users u SET is_active = false, updated_at = now()
    WHERE u.id = ANY(CAST(:ids AS uuid[])) AND u.is_active
    RETURNING u.id
)
{_AUDIT_COLUMNS}
SELECT :actor_id, 'user.update', 'user', id,
       '{{"before": {{"is_active": true}}, "after": {{"is_active": false}}}}'::jsonb, :request_id
FROM changed
"""

_SET_MANAGERS = f"""
WITH f AS (
    SELECT f.team_id, f.created, m.id AS manager_id
    FROM unnest(CAST(:team_ids AS uuid[]), CAST(:emails AS text[]), CAST(:created AS boolean[]))
         AS f(team_id, email, created)
    LEFT JOIN users m ON m.email = f.email
), old AS (
    SELECT t.id, t.name, t.manager_id FROM teams t JOIN f ON f.team_id = t.id
), changed AS (
    UPDATE teams t SET manager_id = f.manager_id, updated_at = now()
    FROM f WHERE t.id = f.team_id AND f.manager_id IS NOT NULL
)
{_AUDIT_COLUMNS}
SELECT :actor_id,
       CASE WHEN f.created THEN 'team.create' ELSE 'team.update' END, 'team', f.team_id,
       CASE WHEN f.created
            THEN jsonb_build_object('after', jsonb_build_object('name', old.name, 'manager_id', f.manager_id))
            ELSE jsonb_build_object('before', jsonb_build_object('manager_id', old.manager_id),
                                    'after', jsonb_build_object('manager_id', f.manager_id))
       END,
       :request_id
FROM f JOIN old ON old.id = f.team_id
"""


def apply(session: Session, actor: User | None, planned: Plan, *, deactivate_missing: bool, now: datetime,
          progress: Progress | None = None) -> None:
    """Write the plan: teams, users, deactivations, tokens, managers, each with
    its audit rows in the same statement; then the `people_import.apply` row."""
    ids = {"actor_id": audit.actor_id_of(actor), "request_id": session.info.get("request_id")}
    steps = [  # (statement, its parameters; None: nothing to do)
        (_INSERT_TEAMS, _arrays(planned.new_teams.values(), lambda t: {"ids": t[0], "names": t[1]})),
        (_CREATE_USERS, {} if planned.creates else None),
        (_UPDATE_USERS, _arrays(planned.updates, lambda u: {
            "ids": u[0], "names": u[1].display_name, "roles": u[1].role, "team_ids": u[2],
            "actives": u[1].active, "payloads": u[3]})),
        (_DEACTIVATE_USERS, {"ids": planned.deactivations} if planned.deactivations else None),
        (_SET_MANAGERS, _arrays(planned.managers, lambda m: {"team_ids": m[0], "emails": m[1], "created": m[2]})),
    ]
    for done, (sql, params) in enumerate(steps):
        if progress is not None:
            progress("apply", done, len(steps) + 1)
        if params is not None:
            session.execute(text(sql), {**ids, **params})
    revoked = tokens.revoke_tokens_of(session, actor, planned.inactive, now=now)
    report = planned.report
    audit.record(
        session, actor_id=ids["actor_id"], action="people_import.apply", entity_type="people_import",
        entity_id=uuid.uuid4(),
        extra={"sha256": planned.sha256, "created": report.created, "updated": report.updated,
               "unchanged": report.unchanged, "deactivated": report.deactivated,
               "teams_created": report.teams_created,
               "teams_updated": sum(1 for m in planned.managers if not m[2]),
               "tokens_revoked": revoked, "deactivate_missing": deactivate_missing},
    )
    session.expire_all()  # the ORM's copies of changed users and teams are stale now
    if progress is not None:
        progress("apply", len(steps) + 1, len(steps) + 1)


def _arrays(items: Iterable[Any], columns: Callable[[Any], dict[str, Any]]) -> dict[str, list[Any]] | None:
    """Items as one list per column (the parameters of an `unnest`); None for no items."""
    arrays: dict[str, list[Any]] = {}
    for item in items:
        for name, value in columns(item).items():
            arrays.setdefault(name, []).append(value)
    return arrays or None


def import_people(
    session: Session,
    actor: User | None,
    data: bytes,
    *,
    dry_run: bool = False,
    deactivate_missing: bool = False,
    now: datetime,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the CSV `data` (admins and the command line; `forbidden` first).

    `import_invalid` lists every bad row and changes nothing; a dry run
    returns the same report and changes nothing. Writes one audit row per
    created or changed user and team and per revoked token, and one
    `people_import.apply` row (counts and the file's SHA-256), all with the
    request's id: importing the same file again writes only that last one.
    """
    require_admin(actor)
    parsed = parse(data, progress)
    if not dry_run:
        # Before reading: the plan must see the state it will change.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMIN_SET_LOCK})
        session.execute(text("LOCK TABLE users, teams IN SHARE ROW EXCLUSIVE MODE"))
    if progress is not None:
        progress("check", 0, 1)
    planned = plan(session, actor, parsed, deactivate_missing=deactivate_missing, dry_run=dry_run)
    if progress is not None:
        progress("check", 1, 1)
    if not dry_run:
        apply(session, actor, planned, deactivate_missing=deactivate_missing, now=now, progress=progress)
    return planned.report
