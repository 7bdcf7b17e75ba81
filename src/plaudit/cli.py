"""The `plaudit` command: serve the API, migrate, and administer from a shell.

Each command runs in one transaction (`transaction()`); actions taken here are
audited with no actor (actor_id null), as the spec asks for command-line work.
"""

import os
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from sqlalchemy import select

from plaudit.clock import system_clock
from plaudit.config import get_settings
from plaudit.errors import DomainError, ImportInvalid, NotFound
from plaudit.models import Team, User
from plaudit.models.enums import Role

app = typer.Typer(help="Plaudit: award nomination cycles.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
users_app = typer.Typer(help="Users.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
results_app = typer.Typer(help="Cycle results.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log's hash chain.", no_args_is_help=True)
cycles_app = typer.Typer(help="Cycles.", no_args_is_help=True)
teams_app = typer.Typer(help="Teams.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(results_app, name="results")
app.add_typer(audit_app, name="audit")
app.add_typer(cycles_app, name="cycles")
app.add_typer(teams_app, name="teams")
app.add_typer(import_app, name="import")


def fail(error: DomainError) -> None:
    typer.echo(f"error: {error.code}: {error.message}", err=True)
    raise typer.Exit(1)


def ensure_database(*, migrated: bool = True) -> str:
    """DATABASE_URL, or the embedded server's URL (exported so that worker
    processes and child commands share the same server).

    With `migrated` (every command but `serve` and `db ...`), a database that
    is not at the code's migration head stops the command with one line,
    `error: not_migrated: run 'plaudit db upgrade'`, and exit status 1,
    before anything fails on a missing table."""
    from plaudit.db import migrate
    from plaudit.db.session import resolve_database_url

    url = resolve_database_url()
    os.environ["DATABASE_URL"] = url
    if migrated and not migrate.is_at_head(url):
        typer.echo("error: not_migrated: run 'plaudit db upgrade'", err=True)
        raise typer.Exit(1)
    return url


def where_data_lives(url: str) -> str:
    """The database in words, never with its password: the embedded server's
    data folder, or DATABASE_URL."""
    from sqlalchemy import make_url

    settings = get_settings()
    if not settings.database_url:
        return f"the embedded PostgreSQL in {settings.data_dir} (PLAUDIT_DATA_DIR)"
    shown = make_url(url)._replace(password=None).render_as_string(hide_password=False)  # URL is a NamedTuple
    return f"{shown} (DATABASE_URL)"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not start a notification worker (run `plaudit worker` instead).")
    ] = False,
) -> None:
    """Serve the HTTP API. Without DATABASE_URL, starts and migrates an embedded
    PostgreSQL. Runs one worker (a child process: notification email,
    reminders, sealing the audit log) unless --no-worker."""
    import subprocess
    import sys

    import uvicorn

    from plaudit.db import migrate

    url = ensure_database(migrated=False)
    migrate.upgrade(url)
    typer.echo(f"plaudit: data in {where_data_lives(url)}", err=True)
    if _no_users():
        typer.echo("plaudit: the database has no users yet; run 'plaudit demo' to seed a demo organisation "
                   "(or 'plaudit users create' for a first admin)", err=True)
    # Every worker signs and checks list cursors with the same key.
    os.environ.setdefault("PLAUDIT_SECRET_KEY", get_settings().secret_key)
    worker = None
    if not no_worker:
        command = [sys.executable, "-c", "from plaudit.cli import app; app()", "worker", "--parent", str(os.getpid())]
        worker = subprocess.Popen(command)
    try:
        uvicorn.run(
            "plaudit.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http="plaudit.api.serving:NoDelayH11Protocol",
            log_level="info",
        )
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once by this worker.")] = 1,
    parent: Annotated[int | None, typer.Option(hidden=True, help="Stop when this process ends.")] = None,
) -> None:
    """Deliver notification email, run reminders and seal the audit log (any number of workers, on any host)."""
    import asyncio
    import logging

    from plaudit.mail.jobs import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_worker(ensure_database(), concurrency=concurrency, parent=parent))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: head)."""
    from plaudit.db import migrate

    migrate.upgrade(ensure_database(migrated=False), revision)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base or -1.")]) -> None:
    """Migrate the database down to REVISION."""
    from plaudit.db import migrate

    migrate.downgrade(ensure_database(migrated=False), revision)


@db_app.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    from plaudit.db import migrate

    migrate.current(ensure_database(migrated=False))


@db_app.command("grant")
def db_grant(role: Annotated[str, typer.Argument(help="The application's database role (not the owner).")]) -> None:
    """Give ROLE exactly what `plaudit serve` and the workers need: INSERT and
    SELECT only on the audit log, its chain and the results; run as the owner,
    again after each upgrade."""
    from plaudit.db.grants import grant
    from plaudit.db.session import make_engine

    engine = make_engine(ensure_database(migrated=False), pool_size=1)
    try:
        with engine.begin() as connection:
            statements = grant(connection, role)
    except DomainError as error:
        fail(error)
    finally:
        engine.dispose()
    typer.echo("\n".join(f"{s};" for s in statements))


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email (stored lower-case).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[Role, typer.Option(help="Role.")],
    team: Annotated[str | None, typer.Option(help="Team name or id.")] = None,
) -> None:
    """Create a user; prints its id."""
    from plaudit.db.session import transaction
    from plaudit.services.users import create_user

    ensure_database()
    try:
        with transaction() as session:
            team_id = _team_id(session, team) if team else None
            user = create_user(session, None, email=email, display_name=name, role=role, team_id=team_id)
            typer.echo(str(user.id))
    except DomainError as error:
        fail(error)


def sign_in_link(secret: str) -> str:
    """The set-password page for a link's secret, on PLAUDIT_BASE_URL."""
    from plaudit.config import get_settings

    return f"{get_settings().base_url.rstrip('/')}/app/set-password/{secret}"


@users_app.command("invite")
def users_invite(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Print a one-time link (valid 72 hours) with which the user sets a password."""
    from plaudit.db.session import transaction
    from plaudit.services.passwords import issue_link

    ensure_database()
    try:
        with transaction() as session:
            user = _user_by_email(session, email)
            secret = issue_link(session, None, user, now=system_clock.now())
    except DomainError as error:
        fail(error)
    typer.echo(sign_in_link(secret))


EXPIRES_HELP = "'never', or an ISO 8601 date or time with an offset; default: in 90 days."


def token_expiry(value: str | None) -> datetime | Literal["never"] | None:
    """`--expires`: None (the 90-day default), "never", or a time (a date is its start, UTC)."""
    if value is None or value == "never":
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(EXPIRES_HELP) from None
    if len(value) == 10:
        return when.replace(tzinfo=UTC)
    if when.tzinfo is None:
        raise typer.BadParameter("a time needs an offset, e.g. 2031-01-31T17:00:00Z")
    return when


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    name: Annotated[str, typer.Option(help="A label for the token.")] = "cli",
    expires: Annotated[str | None, typer.Option(help=EXPIRES_HELP)] = None,
) -> None:
    """Issue an API token for a user; prints the token alone on stdout."""
    from plaudit.db.session import transaction
    from plaudit.services.tokens import create_token

    expires_at = token_expiry(expires)
    ensure_database()
    try:
        with transaction() as session:
            user = _user_by_email(session, email)
            issued = create_token(session, None, user, name=name, expires_at=expires_at, now=system_clock.now())
            secret = issued.secret
    except DomainError as error:
        fail(error)
    typer.echo(secret)


@results_app.command("export")
def results_export(
    cycle_id: Annotated[str, typer.Argument(help="The cycle's id.")],
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[str | None, typer.Option("--out", help="Write to FILE instead of stdout.")] = None,
) -> None:
    """Export a finalized cycle's full results (every ranked nominee) as CSV or JSON.

    Not finalized: prints `error: not_finalized: ...` on stderr and exits 1;
    the output file is not created then. CSV rows are streamed, not buffered.
    """
    import sys

    from plaudit.db.session import transaction
    from plaudit.errors import ValidationFailed
    from plaudit.services import ranking

    ensure_database()
    try:
        if format not in ("csv", "json"):
            raise ValidationFailed(f"--format must be csv or json, not {format!r}")
        cid = _cycle_uuid(cycle_id)
        with transaction() as session:
            if format == "csv":
                chunks = ranking.export_csv(session, None, cid)  # checks run here, before any output
            else:
                chunks = iter([ranking.get_results(session, None, cid).model_dump_json(indent=2) + "\n"])
            target = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
            try:
                for chunk in chunks:
                    target.write(chunk)
            finally:
                if out:
                    target.close()
                else:
                    target.flush()
    except DomainError as error:
        fail(error)


@results_app.command("verify")
def results_verify(cycle_id: Annotated[str, typer.Argument(help="The cycle's id.")]) -> None:
    """Recompute a finalized cycle's ranking and inputs digest from the stored
    criteria and approvals and compare them with the stored results.

    Prints `verified` and exits 0 when everything matches; otherwise prints
    each difference (the first one first) and exits 1.
    """
    from plaudit.db.session import transaction
    from plaudit.services.results_verify import verify_results

    ensure_database()
    try:
        with transaction() as session:
            differences = verify_results(session, _cycle_uuid(cycle_id))
    except DomainError as error:
        fail(error)
    if differences:
        typer.echo("\n".join(f"differs: {d}" for d in differences))
        raise typer.Exit(1)
    typer.echo("verified")


def _cycle_uuid(cycle_id: str):
    import uuid

    try:
        return uuid.UUID(cycle_id)
    except ValueError:
        raise NotFound(f"cycle {cycle_id} not found") from None


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal every audit row that can be sealed now (workers also seal, every
    2 seconds); prints how many."""
    from plaudit.db.session import default_engine, make_sessionmaker
    from plaudit.services.audit_chain import seal_pending

    ensure_database()
    typer.echo(f"sealed {seal_pending(make_sessionmaker(default_engine()))} audit rows")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain. Exit 0 when every sealed row
    matches (unsealed rows are counted), exit 1 naming the first row that
    does not. The outcome is kept for the web app's audit page."""
    from plaudit.db.session import transaction
    from plaudit.services.audit_chain import describe, record_verification, verify

    ensure_database()
    with transaction() as session:
        report = verify(session)
    with transaction() as session:
        record_verification(session, report, clock=system_clock)
    typer.echo(describe(report))
    if not report.ok:
        raise typer.Exit(1)


# --- plaudit demo -------------------------------------------------------------

DEMO_DOMAIN = "demo.plaudit.example"
DEMO_ADMIN = f"hr.admin@{DEMO_DOMAIN}"
# (team, manager, other members as (name, role)); emails are first.last@DEMO_DOMAIN.
DEMO_TEAMS = (
    ("Engineering (demo)", "Maya Patel", (("Leo Tanaka", Role.team_lead), ("Eve Johnson", Role.employee),
                                          ("Sam Okafor", Role.employee))),
    ("Sales (demo)", "Marco Rossi", (("Priya Shah", Role.employee), ("Tom Becker", Role.employee))),
    ("Support (demo)", "Nora Lind", (("Ivy Chen", Role.employee), ("Omar Haddad", Role.employee))),
)
DEMO_CRITERIA = (("Impact", "0.5000"), ("Collaboration", "0.3000"), ("Craft", "0.2000"))
DEMO_SAMPLES = (DEMO_ADMIN, f"maya.patel@{DEMO_DOMAIN}", f"eve.johnson@{DEMO_DOMAIN}")


def _demo_email(name: str) -> str:
    return f"{name.lower().replace(' ', '.')}@{DEMO_DOMAIN}"


@app.command()
def demo(expires: Annotated[str | None, typer.Option(help=f"The sample tokens'. {EXPIRES_HELP}")] = None) -> None:
    """Seed a demo organisation (teams, managers, employees, an admin) and a
    published cycle open for nominations and approvals; print sample tokens.

    Run again, it creates nothing and prints fresh tokens for the demo users.
    """
    from plaudit.db.session import transaction
    from plaudit.services.passwords import issue_link
    from plaudit.services.tokens import create_token

    expires_at = token_expiry(expires)
    url = ensure_database()
    now = system_clock.now()
    lines = [f"Database: {where_data_lives(url)}"]
    try:
        with transaction() as session:
            if session.scalar(select(User.id).where(User.email == DEMO_ADMIN)) is not None:
                lines.append(f"The demo organisation already exists ({DEMO_ADMIN}); issuing fresh tokens.")
            else:
                cycle_name = _seed_demo(session, now)
                lines.append(f"Created the demo organisation and the published cycle {cycle_name!r}.")
            samples = []
            for email in DEMO_SAMPLES:
                user = session.scalar(select(User).where(User.email == email))
                if user is None:
                    raise NotFound(f"demo user {email} is missing")
                samples.append(user)
            lines.append("Sample tokens (send as 'Authorization: Bearer <token>'):")
            for user in samples:
                secret = create_token(session, None, user, name="demo", expires_at=expires_at, now=now).secret
                lines.append(f"  {user.role:<8} {user.email:<36} {secret}")
            lines.append("Sign-in links for the web app (each works once, for 72 hours; open one, set a password):")
            for user in samples:
                link = sign_in_link(issue_link(session, None, user, now=now))
                lines.append(f"  {user.role:<8} {user.email:<36} {link}")
    except DomainError as error:
        fail(error)
    typer.echo("\n".join(lines))  # only once committed: every printed token works


def _seed_demo(session, now) -> str:
    """The demo rows, through the same services the API uses (so every row
    gets its audit row and its notifications): people, teams, then a cycle
    open now, its criteria, its publication, and one nomination."""
    from datetime import timedelta

    from plaudit.clock import FixedClock
    from plaudit.services.criteria import add_criterion
    from plaudit.services.cycles import create_cycle, publish_cycle
    from plaudit.services.nominations import create_nomination
    from plaudit.services.teams import create_team, update_team
    from plaudit.services.users import create_user

    create_user(session, None, email=DEMO_ADMIN, display_name="Hana Admin (HR)", role=Role.admin)
    for team_name, manager_name, members in DEMO_TEAMS:
        team = create_team(session, None, name=team_name)
        manager = create_user(session, None, email=_demo_email(manager_name), display_name=manager_name,
                              role=Role.manager, team_id=team.id)
        update_team(session, None, team.id, manager_id=manager.id)
        for name, role in members:
            create_user(session, None, email=_demo_email(name), display_name=name, role=role, team_id=team.id)

    cycle = create_cycle(
        session,
        None,
        name=f"Demo awards {now:%Y-%m-%d %H:%M}",
        description="A demo cycle: nominate a colleague, then managers approve and rate.",
        nomination_opens_at=now - timedelta(hours=1),
        nomination_closes_at=now + timedelta(days=14),
        approval_opens_at=now - timedelta(hours=1),
        approval_closes_at=now + timedelta(days=21),
        max_nominations_per_nominator=3,
    )
    for position, (name, weight) in enumerate(DEMO_CRITERIA):
        add_criterion(session, None, cycle.id, name=name, weight=weight, position=position)
    publish_cycle(session, None, cycle.id, now=now)  # everyone is told: nominations are open
    # And one nomination, so a manager (Maya Patel, a sample) has one waiting for her decision.
    leo, sam = (session.scalar(select(User).where(User.email == _demo_email(name))) for name in ("Leo Tanaka",
                                                                                                   "Sam Okafor"))
    create_nomination(session, leo, cycle.id, nominee_id=sam.id, clock=FixedClock(now),
                      justification="Sam rebuilt our deploy pipeline and then taught the whole team how it works.")
    return cycle.name


def _no_users() -> bool:
    """Whether the database has no user yet (a fresh install). The connection
    is closed afterwards: `serve`'s workers open their own."""
    from plaudit.db.session import default_engine, transaction

    try:
        with transaction() as session:
            return session.scalar(select(User.id).limit(1)) is None
    finally:
        default_engine().dispose()


@cycles_app.command("list")
def cycles_list(
    all_: Annotated[bool, typer.Option("--all", help="Include archived cycles.")] = False,
) -> None:
    """List cycles, newest first: id, status, the two windows (UTC) and the name."""
    from plaudit.db.session import transaction
    from plaudit.services.cycles import list_cycles

    ensure_database()
    lines = []
    with transaction() as session:
        cursor = None
        while True:
            page = list_cycles(session, None, include_archived=all_, limit=200, cursor=cursor)
            lines += [
                f"{c.id}  {c.status:<9}  {_span(c.nomination_opens_at, c.nomination_closes_at)}  "
                f"{_span(c.approval_opens_at, c.approval_closes_at)}  {c.name}"
                for c in page.items
            ]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    if lines:
        typer.echo(f"{'id':<36}  {'status':<9}  {'nominations (UTC)':<33}  {'approvals (UTC)':<33}  name")
        typer.echo("\n".join(lines))
    else:
        typer.echo("No cycles" + ("." if all_ else " (archived ones are listed with --all)."))


@cycles_app.command("close-nominations")
def cycles_close_nominations(cycle_id: Annotated[str, typer.Argument(help="The cycle's id.")]) -> None:
    """Close the nomination window now (published cycle, window open)."""
    _close_now("close_nominations", cycle_id)


@cycles_app.command("close-approvals")
def cycles_close_approvals(cycle_id: Annotated[str, typer.Argument(help="The cycle's id.")]) -> None:
    """Close the approval window, and the nomination window with it, now; finalize may follow at once."""
    _close_now("close_approvals", cycle_id)


def _close_now(action: str, cycle_id: str) -> None:
    """Run a close-now service (`cycles.close_nominations`/`close_approvals`);
    prints the cycle's new closing bounds (UTC)."""
    from plaudit.clock import system_clock
    from plaudit.db.session import transaction
    from plaudit.services import cycles

    ensure_database()
    try:
        with transaction() as session:
            cycle = getattr(cycles, action)(session, None, _cycle_uuid(cycle_id), now=system_clock.now())
            typer.echo(f"nominations close {cycle.nomination_closes_at:%Y-%m-%d %H:%M:%S} UTC; "
                       f"approvals close {cycle.approval_closes_at:%Y-%m-%d %H:%M:%S} UTC")
    except DomainError as error:
        fail(error)


def _span(opens, closes) -> str:
    return f"{opens:%Y-%m-%d %H:%M} - {closes:%Y-%m-%d %H:%M}"


@teams_app.command("create")
def teams_create(
    name: Annotated[str, typer.Argument(help="The team's name (unique in any case).")],
    manager: Annotated[str | None, typer.Option(help="The manager's email (a manager or admin).")] = None,
) -> None:
    """Create a team; prints its id."""
    from plaudit.db.session import transaction
    from plaudit.services.teams import create_team

    ensure_database()
    try:
        with transaction() as session:
            manager_id = _user_by_email(session, manager).id if manager is not None else None
            team_id = create_team(session, None, name=name, manager_id=manager_id).id
    except DomainError as error:
        fail(error)
    typer.echo(str(team_id))


@import_app.command("people")
def import_people(
    file: Annotated[Path, typer.Argument(help="HR's CSV export (UTF-8, header row).", exists=True, dir_okay=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would happen; change nothing.")] = False,
    deactivate_missing: Annotated[
        bool, typer.Option("--deactivate-missing", help="Deactivate active users absent from the file.")
    ] = False,
) -> None:
    """Create and update users and teams from a CSV file, all or nothing
    (columns: email, display_name, role, team, team_manager_email, active).

    Prints the same JSON report as `POST /imports/people`. A bad file prints
    `error: import_invalid: ...` and then every bad row as `line N, column C:
    reason` on stderr, changes nothing, and exits 1. On a terminal a progress
    bar shows the reading, checking and writing."""
    from plaudit.db.session import transaction
    from plaudit.services import imports

    ensure_database()
    data = file.read_bytes()
    try:
        with _progress_bar() as progress, transaction() as session:
            report = imports.import_people(session, None, data, dry_run=dry_run,
                                           deactivate_missing=deactivate_missing,
                                           now=system_clock.now(), progress=progress)
    except ImportInvalid as error:
        typer.echo(f"error: {error.code}: {error.message}", err=True)
        for bad in error.errors or []:
            where = f"line {bad['line']}" if bad["line"] is not None else "the file"
            typer.echo(f"  {where}" + (f", column {bad['column']}" if bad["column"] else "") + f": {bad['msg']}",
                       err=True)
        raise typer.Exit(1) from None
    except DomainError as error:
        fail(error)
    typer.echo(report.model_dump_json(indent=2))


@contextmanager
def _progress_bar():
    """A `progress(stage, done, total)` callback drawing a Rich progress bar
    when stdout is a terminal (removed when done), else None."""
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    stages = {"parse": "Reading the file", "check": "Checking", "apply": "Writing"}
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stages.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


def _user_by_email(session, email: str) -> User:
    """The user with this email (any case), or `not_found`."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email}")
    return user


def _team_id(session, team: str):
    """A team given by id or by (case-insensitive) name."""
    import uuid

    from sqlalchemy import func

    try:
        found = session.get(Team, uuid.UUID(team))
    except ValueError:
        found = session.scalar(select(Team).where(func.lower(Team.name) == team.lower()))
    if found is None:
        raise NotFound(f"no team {team}")
    return found.id


if __name__ == "__main__":
    app()
