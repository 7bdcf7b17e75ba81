"""`make run`'s path: `plaudit serve` with no DATABASE_URL starts an embedded
PostgreSQL in PLAUDIT_DATA_DIR, migrates it, serves, and leaves no server
running once it is stopped."""

import os
import subprocess
import time

import httpx

from tests.live.conftest import _free_port, _stop, plaudit_command


def _postmaster_running(data_dir) -> bool:
    pid_files = list(data_dir.rglob("postmaster.pid"))
    if not pid_files:
        return False
    pid = int(pid_files[0].read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_without_database_url_runs_on_an_embedded_postgresql(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PLAUDIT_DATA_DIR"] = str(tmp_path / "data")
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*plaudit_command(), "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text()[-4000:]
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0)
                    if response.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()[-4000:]
                time.sleep(0.25)
            assert response.json() == {"status": "ok", "database": "ok"}
            assert _postmaster_running(tmp_path / "data")
            # Migrated: an authenticated path answers 401, not a database error.
            assert httpx.get(f"http://127.0.0.1:{port}/users/me").status_code == 401
        finally:
            _stop(process)
    deadline = time.monotonic() + 30
    while _postmaster_running(tmp_path / "data") and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not _postmaster_running(tmp_path / "data"), "the embedded PostgreSQL outlived plaudit serve"
