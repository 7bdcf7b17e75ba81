"""The command line beyond people: `cycles list`, `teams create`, `import
people`, the not-migrated guard, where `serve` and `demo` say the data lives,
and no XDG_RUNTIME_DIR warning."""

import os
import pty
import select as io_select
import signal
import socket
import subprocess
import time
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.cli import where_data_lives
from plaudit.config import get_settings
from plaudit.models import AuditLog, Team, User
from tests.live.conftest import plaudit_command

NOT_MIGRATED = "error: not_migrated: run 'plaudit db upgrade'\n"


def database_url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a `plaudit` child process: no XDG_RUNTIME_DIR."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "DATABASE_URL")}
    return {**env, **extra}


# --- cycles list, teams create ------------------------------------------------


def test_cycles_list_shows_each_cycle_with_status_windows_and_name(cli, committed_db):
    assert cli("cycles", "list").stdout.startswith("No cycles")
    assert cli("demo").exit_code == 0
    result = cli("cycles", "list")
    assert result.exit_code == 0, result.output
    header, line = result.stdout.splitlines()
    assert header.split()[:2] == ["id", "status"]
    with Session(committed_db) as s:
        from plaudit.models import Cycle

        cycle = s.scalar(select(Cycle))
        assert line.startswith(f"{cycle.id}  published")
        assert line.endswith(cycle.name) and f"{cycle.nomination_opens_at:%Y-%m-%d %H:%M}" in line


def test_teams_create_with_a_manager_prints_the_id_and_audits(cli, committed_db):
    assert cli("users", "create", "--email", "boss@example.org", "--name", "Boss", "--role", "manager").exit_code == 0
    result = cli("teams", "create", "  Platform ", "--manager", "BOSS@example.org")
    assert result.exit_code == 0, result.output
    with Session(committed_db) as s:
        team = s.get(Team, uuid.UUID(result.stdout.strip()))
        boss = s.scalar(select(User).where(User.email == "boss@example.org"))
        assert (team.name, team.manager_id) == ("Platform", boss.id)
        row = s.scalar(select(AuditLog).where(AuditLog.entity_id == team.id))
        assert (row.action, row.actor_id) == ("team.create", None)


@pytest.mark.parametrize(("args", "code"), [
    (["Ops", "--manager", "nobody@example.org"], "not_found"),
    (["ops"], "duplicate_name"),
])
def test_teams_create_fails_cleanly(cli, committed_db, args, code):
    assert cli("teams", "create", "Ops").exit_code == 0
    result = cli("teams", "create", *args)
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {code}: ") and result.stdout == ""
    with Session(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(Team)) == 1


# --- import people ------------------------------------------------------------

PEOPLE = (
    "email,display_name,role,team,team_manager_email\n"
    "hr@example.org,HR,admin,,\n"
    "mia@example.org,Mia,manager,Engineering,mia@example.org\n"
    "eve@example.org,Eve,employee,Engineering,mia@example.org\n"
)


def test_import_people_prints_the_report_and_a_rerun_changes_nothing(cli, committed_db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    dry = cli("import", "people", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert '"dry_run": true' in dry.stdout and '"created": 3' in dry.stdout
    with Session(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
    first = cli("import", "people", str(path))
    assert first.exit_code == 0 and '"created": 3' in first.stdout and '"teams_created": 1' in first.stdout
    again = cli("import", "people", str(path), "--deactivate-missing")
    assert again.exit_code == 0 and '"unchanged": 3' in again.stdout
    with Session(committed_db) as s:
        actions = s.scalars(select(AuditLog.action).order_by(AuditLog.seq)).all()
    assert actions.count("people_import.apply") == 2 and len(actions) == 3 + 1 + 2
    assert {a for a in s.scalars(select(AuditLog.actor_id))} == {None}


def test_import_people_lists_every_bad_row_and_exits_1(cli, committed_db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("email,display_name,role\nnope,A,employee\nb@example.org,B,chief\n")
    result = cli("import", "people", str(path))
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: import_invalid: 2 error(s)")
    assert lines[1].startswith("  line 2, column email: ") and lines[2].startswith("  line 3, column role: ")
    assert "Traceback" not in result.stderr


def test_import_people_draws_a_progress_bar_on_a_terminal(committed_db, tmp_path):
    """stdout a terminal (a pty): a Rich bar is drawn; piped (the other tests): none."""
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*plaudit_command(), "import", "people", str(path)], stdout=follower, stderr=subprocess.PIPE,
        env=child_env(DATABASE_URL=database_url(committed_db), COLUMNS="100", TERM="xterm"),
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = io_select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, process.stderr.read()
    text = output.decode(errors="replace")
    assert "Reading the file" in text and "━" in text  # the bar
    assert '"created": 3' in text


# --- the database: not migrated, where it lives --------------------------------


@pytest.fixture
def unmigrated_url(server):
    name = f"plaudit_unmigrated_{uuid.uuid4().hex[:8]}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.mark.parametrize("command", [
    ["users", "create", "--email", "a@example.org", "--name", "A", "--role", "admin"],
    ["tokens", "create", "a@example.org"],
    ["cycles", "list"],
    ["teams", "create", "Ops"],
    ["demo"],
    ["results", "export", str(uuid.uuid4())],
    ["import", "people", __file__],
])
def test_a_command_on_a_database_not_migrated_says_so_in_one_line(cli, monkeypatch, unmigrated_url, command):
    monkeypatch.setenv("DATABASE_URL", unmigrated_url)
    get_settings.cache_clear()
    from typer.testing import CliRunner

    from plaudit.cli import app

    result = CliRunner().invoke(app, command, env={"DATABASE_URL": unmigrated_url})
    assert (result.exit_code, result.stderr, result.stdout) == (1, NOT_MIGRATED, "")


def test_db_current_works_on_a_database_not_migrated(unmigrated_url):
    """The `db` commands are how one migrates: they are not guarded."""
    done = subprocess.run([*plaudit_command(), "db", "current"], env=child_env(DATABASE_URL=unmigrated_url),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "not_migrated" not in done.stderr, done.stderr


def test_the_embedded_server_starts_without_an_xdg_runtime_dir_warning(tmp_path):
    done = subprocess.run([*plaudit_command(), "db", "current"], capture_output=True, text=True, timeout=180,
                          env=child_env(PLAUDIT_DATA_DIR=str(tmp_path / "data")))
    assert done.returncode == 0, done.stderr
    assert "XDG_RUNTIME_DIR" not in done.stderr and "RuntimeDirWarning" not in done.stderr


def test_demo_says_which_database_it_seeded(cli, committed_db):
    result = cli("demo")
    assert result.exit_code == 0
    first = result.stdout.splitlines()[0]
    assert first.startswith("Database: postgresql+psycopg://") and first.endswith(" (DATABASE_URL)")
    assert f"/{committed_db.url.database}" in first


def test_where_data_lives_never_shows_the_password(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://hr:s3cret@db.internal:5432/plaudit")
    get_settings.cache_clear()
    try:
        shown = where_data_lives("postgresql+psycopg://hr:s3cret@db.internal:5432/plaudit")
        assert shown == "postgresql+psycopg://hr@db.internal:5432/plaudit (DATABASE_URL)"
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("PLAUDIT_DATA_DIR", str(tmp_path))
        get_settings.cache_clear()
        assert where_data_lives("ignored") == f"the embedded PostgreSQL in {tmp_path} (PLAUDIT_DATA_DIR)"
    finally:
        get_settings.cache_clear()


def test_serve_logs_where_the_data_lives_and_suggests_demo_on_an_empty_database(committed_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = database_url(committed_db)
    process = subprocess.Popen([*plaudit_command(), "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=child_env(DATABASE_URL=url),
                               start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Uvicorn running" in line for line in lines):
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    log = "".join(lines)
    shown = committed_db.url._replace(password=None).render_as_string(hide_password=False)
    assert f"plaudit: data in {shown} (DATABASE_URL)\n" in log, log
    assert "run 'plaudit demo'" in log
    assert "XDG_RUNTIME_DIR" not in log
