"""A real server for end-to-end tests: `plaudit serve --workers 2` in a child
process, on a free port, against a fresh database on the test server.

The server migrates the empty database itself (as `plaudit serve` does in
production); an admin and their token are bootstrapped with the command line
(`plaudit users create`, `plaudit tokens create`), exactly as the README tells
an operator to do.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from plaudit.db.server import DatabaseServer

STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    admin_token: str
    database_url: str

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0, **kwargs)


def plaudit_command() -> list[str]:
    """The installed console script next to this interpreter (the package's
    entry point, as a user would run it)."""
    script = Path(sys.executable).with_name("plaudit")
    if script.exists():
        return [str(script)]
    found = shutil.which("plaudit")
    return [found] if found else [sys.executable, "-m", "plaudit.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([*plaudit_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"plaudit {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _stop(process: subprocess.Popen) -> None:
    """Terminate the whole process group (uvicorn's supervisor and workers)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def live_server(server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    name = f"plaudit_live_{uuid.uuid4().hex[:10]}"
    database_url = server.create_database(name)  # empty: `plaudit serve` migrates it
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PLAUDIT_DATA_DIR": str(workdir / "unused-data"),
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*plaudit_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"plaudit serve exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"plaudit serve not healthy after {STARTUP_TIMEOUT}s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)

        _cli(["users", "create", "--email", "live-admin@example.org", "--name", "Live Admin", "--role", "admin"],
             env, workdir)
        token = _cli(["tokens", "create", "live-admin@example.org", "--name", "live tests"], env, workdir).strip()
        assert token and "\n" not in token, "tokens create must print the token alone"
        yield LiveServer(base_url=base_url, admin_token=token, database_url=database_url)
    finally:
        _stop(process)
        log.close()
        server.drop_database(name)
