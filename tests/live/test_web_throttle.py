"""The sign-in throttle holds across server processes: two separate
`plaudit serve` processes on one database, the attempts alternating between
them. Also the command line's one-time link, used over real HTTP."""

import os
import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.live.conftest import LiveServer, _cli, _free_port, _stop, plaudit_command

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a long and secret password"


@pytest.fixture(scope="module")
def second_server(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another `plaudit serve` process on the live server's database."""
    workdir = tmp_path_factory.mktemp("second")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": live_server.database_url, "PLAUDIT_DATA_DIR": str(workdir)}
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen([*plaudit_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the second server did not start")
        yield base
    finally:
        _stop(process)
        log.close()


def _form_post(client: httpx.Client, page: str, target: str, data: dict) -> httpx.Response:
    token = CSRF.search(client.get(page).text).group(1)
    return client.post(target, data={**data, "csrf_token": token})


def test_the_sixth_attempt_is_refused_whichever_process_gets_it(live_server: LiveServer, second_server: str,
                                                                  tmp_path):
    env = {**os.environ, "DATABASE_URL": live_server.database_url, "PLAUDIT_BASE_URL": live_server.base_url}
    _cli(["users", "create", "--email", "throttled@example.org", "--name", "Thea Throttled", "--role", "employee"],
         env, tmp_path)
    link = _cli(["users", "invite", "throttled@example.org"], env, tmp_path).strip()
    assert link.startswith(live_server.base_url + "/app/set-password/")
    with httpx.Client() as setter:
        done = _form_post(setter, link, link, {"new_password": PASSWORD, "repeat_password": PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/app/"

    one, two = httpx.Client(base_url=live_server.base_url), httpx.Client(base_url=second_server)
    try:
        for attempt in range(5):
            client = (one, two)[attempt % 2]
            wrong = _form_post(client, "/app/login", "/app/login",
                               {"email": "throttled@example.org", "password": f"wrong password {attempt}"})
            assert wrong.status_code == 401 and "Email or password is wrong" in wrong.text
        for client in (two, one):
            refused = _form_post(client, "/app/login", "/app/login",
                                 {"email": "throttled@example.org", "password": PASSWORD})
            assert refused.status_code == 429 and "Too many attempts" in refused.text
    finally:
        one.close()
        two.close()
