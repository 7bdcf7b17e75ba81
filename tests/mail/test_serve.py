"""`plaudit serve` delivers mail with no second command: it runs a worker of its own."""

import os
import subprocess

import httpx

from tests.factories import auth, make_token, make_user
from tests.live.conftest import _free_port, _stop, plaudit_command
from tests.mail.conftest import wait_until


def test_serve_runs_a_worker_that_mails_a_publication(factory, sink, mail_env, tmp_path):
    with factory.begin() as s:
        admin = make_user(s, role="admin")
        headers = auth(make_token(s, admin))
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*plaudit_command(), "serve", "--port", str(port)], env={**os.environ, **mail_env}, cwd=tmp_path,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(base), timeout=60, what="plaudit serve")
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            cycle = client.post("/cycles", json={
                "name": "Served", "nomination_opens_at": "2020-01-01T00:00:00Z",
                "nomination_closes_at": "2099-01-01T00:00:00Z", "approval_opens_at": "2020-01-01T00:00:00Z",
                "approval_closes_at": "2099-02-01T00:00:00Z"}).json()
            client.post(f"/cycles/{cycle['id']}/criteria", json={"name": "Impact", "weight": "1"}).raise_for_status()
            client.post(f"/cycles/{cycle['id']}/publish").raise_for_status()
        wait_until(lambda: len(sink.received) == 1, timeout=30, what="the mail")
        assert sink.received[0][0] == admin.email and sink.received[0][2] == "Nominations are open: Served"
    finally:
        _stop(process)
        log.close()
    wait_until(lambda: not _worker_of(process.pid), timeout=15, what="the worker to stop with plaudit serve")


def _worker_of(pid: int) -> str:
    return subprocess.run(["pgrep", "-f", f"worker --parent {pid}"], capture_output=True, text=True).stdout.strip()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
