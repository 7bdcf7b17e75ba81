"""The database away (API.md: 503 `database_unavailable` with `Retry-After`):
a server that is not there, connections that die under the app, and a row
lock held elsewhere, which must not stall unrelated requests."""

import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from plaudit.api.app import create_app
from plaudit.api.serving import NoDelayH11Protocol
from plaudit.db.session import make_engine
from tests.api.test_platform import api_routes
from tests.factories import (
    auth,
    make_criterion,
    make_cycle,
    make_nomination,
    make_org,
    make_rated_nomination,
    make_token,
)
from tests.helpers import assert_problem


def assert_unavailable(response) -> None:
    assert_problem(response, 503, "database_unavailable")
    assert int(response.headers["retry-after"]) > 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_database_server_is_503_on_every_api_path():
    """An app pointed at a port where no server listens (a stopped server)."""
    engine = make_engine(f"postgresql+psycopg://plaudit@127.0.0.1:{_free_port()}/plaudit", serving=True)
    app = create_app(engine=engine)
    headers = auth("plt_" + "x" * 43)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 503
        for route in api_routes(app):
            if route.path == "/healthz":
                continue
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", str(uuid.uuid4()))
            for method in route.methods:
                for body in ({}, {"name": 5}):  # a valid-looking and an invalid body
                    response = client.request(method, path, json=body, headers=headers)
                    if route.path.startswith(("/docs", "/redoc")):
                        continue
                    assert response.status_code == 503, (method, path, response.text)
                    assert_unavailable(response)
    engine.dispose()


@pytest.fixture
def org_app(committed_db: Engine) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    with Session(committed_db) as session:
        org = make_org(session)
        headers = auth(make_token(session, org.admin))
        session.commit()
    url = committed_db.url.render_as_string(hide_password=False)
    engine = make_engine(url, serving=True, pool_size=5, max_overflow=0)
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as client:
        yield client, engine, headers
    engine.dispose()


def test_connections_killed_under_the_app_are_503_then_it_recovers(org_app, committed_db):
    client, engine, headers = org_app
    assert client.get("/users/me", headers=headers).status_code == 200
    with committed_db.connect() as admin:
        killed = admin.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalar()
        admin.commit()
    assert killed >= 1
    assert_unavailable(client.get("/users/me", headers=headers))
    statuses = [client.get("/users/me", headers=headers).status_code for _ in range(6)]
    assert statuses[-1] == 200, statuses  # dead connections are dropped, fresh ones made
    assert 500 not in statuses


# --- a row lock held elsewhere ---------------------------------------------------------


class Server:
    """The app served by uvicorn in a thread, on a free port: real sockets and
    the real thread pool, so a stuck request holds what it holds in production."""

    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    http=NoDelayH11Protocol))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def test_a_lock_held_elsewhere_is_503_and_other_requests_stay_fast(committed_db: Engine):
    now = datetime.now(UTC)
    with Session(committed_db) as session:
        org = make_org(session)
        cycle = make_cycle(session, now=now)
        criterion = make_criterion(session, cycle, weight="1")
        nomination = make_nomination(session, cycle, org.nominator, org.nominee)
        admin = auth(make_token(session, org.admin))
        reader = auth(make_token(session, org.stranger))
        session.commit()
        nomination_id, criterion_id = nomination.id, criterion.id
    url = committed_db.url.render_as_string(hide_password=False)
    engine = make_engine(url, serving=True)
    body = {"decision": "approve", "ratings": [{"criterion_id": str(criterion_id), "value": 4}]}

    with Server(create_app(engine=engine)) as base, committed_db.connect() as holder:
        holder.execute(text("SELECT id FROM nominations WHERE id = :id FOR UPDATE"), {"id": nomination_id})

        def approve(_):
            with httpx.Client(base_url=base, headers=admin, timeout=30) as c:
                return c.put(f"/nominations/{nomination_id}/approval", json=body)

        def read_me_alongside(stop: threading.Event) -> list[float]:
            timings = []
            with httpx.Client(base_url=base, headers=reader, timeout=30) as c:
                while not stop.is_set() or len(timings) < 20:
                    started = time.perf_counter()
                    assert c.get("/users/me").status_code == 200
                    timings.append(time.perf_counter() - started)
            return timings

        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=51) as pool:
            reading = pool.submit(read_me_alongside, stop)
            time.sleep(0.1)
            approvals = list(pool.map(approve, range(50)))
            stop.set()
            timings = reading.result()
        holder.rollback()

        for response in approvals:
            assert_unavailable(response)
        p95 = statistics.quantiles(timings, n=20)[-1] * 1000
        assert p95 < 100, f"/users/me p95 {p95:.0f} ms over {len(timings)} requests while approvals were stuck"
        # The lock released, the approval goes through.
        with httpx.Client(base_url=base, headers=admin, timeout=30) as c:
            assert c.put(f"/nominations/{nomination_id}/approval", json=body).status_code == 201
    engine.dispose()


# --- finalize queues (DOMAIN.md: concurrent finalizes queue; API.md: idempotent) -------


def test_finalize_waits_for_the_cycles_row_lock_beyond_the_lock_timeout_and_approvals_do_not(committed_db: Engine):
    """The server's engine refuses a lock wait over 1 s (`LOCK_TIMEOUT`), but
    finalize is documented to queue: two finalizes fired while another
    transaction holds the cycle's row lock for 2.5 s both wait, then both
    answer 200 with the same stored results. An ordinary path (an approval
    of a locked nomination) still gets 503 after about a second, also after
    the finalizes ran on the pool's connections (their longer wait ended with
    their transactions)."""
    now = datetime.now(UTC)
    with Session(committed_db) as session:
        org = make_org(session)
        cycle = make_cycle(session, now=now, nominations="after", approvals="after", award_slots=1)
        criterion = make_criterion(session, cycle, weight="1")
        make_rated_nomination(session, cycle, org.nominee, [{criterion: 4}])
        open_cycle = make_cycle(session, now=now)
        open_criterion = make_criterion(session, open_cycle, weight="1")
        pending = make_nomination(session, open_cycle, org.nominator, org.nominee)
        admin = auth(make_token(session, org.admin))
        session.commit()
        cycle_id, nominee_id, pending_id, open_criterion_id = cycle.id, org.nominee.id, pending.id, open_criterion.id
    url = committed_db.url.render_as_string(hide_password=False)
    engine = make_engine(url, serving=True, pool_size=3, max_overflow=0)
    held = 2.5

    def timed(method: str, path: str, base: str, **kwargs) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        with httpx.Client(base_url=base, headers=admin, timeout=30) as c:
            response = c.request(method, path, **kwargs)
        return response, time.monotonic() - started

    with Server(create_app(engine=engine)) as base, ThreadPoolExecutor(max_workers=2) as pool:
        with committed_db.connect() as holder:
            holder.execute(text("SELECT id FROM cycles WHERE id = :id FOR UPDATE"), {"id": cycle_id})
            finalizes = [pool.submit(timed, "POST", f"/cycles/{cycle_id}/finalize", base) for _ in range(2)]
            time.sleep(held)
            assert not any(f.done() for f in finalizes), [f.result()[0].text for f in finalizes if f.done()]
            holder.rollback()
        answers = [f.result(timeout=30) for f in finalizes]
        for response, elapsed in answers:
            assert response.status_code == 200, response.text
            assert elapsed >= held
        bodies = [response.json() for response, _ in answers]
        assert bodies[0] == bodies[1]
        assert bodies[0]["finalized_at"] is not None
        assert [(i["nominee_id"], i["rank"], i["is_winner"]) for i in bodies[0]["items"]] == [
            (str(nominee_id), 1, True)]
        with committed_db.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_logs WHERE action = 'cycle.finalize'"
                                     " AND entity_id = :id"), {"id": cycle_id}).scalar() == 1

        # Every pooled connection is back to the server's lock timeout.
        connections = [engine.connect() for _ in range(3)]
        assert [c.execute(text("SHOW lock_timeout")).scalar() for c in connections] == ["1s"] * 3
        for c in connections:
            c.close()

        body = {"decision": "approve", "ratings": [{"criterion_id": str(open_criterion_id), "value": 4}]}
        with committed_db.connect() as holder:
            holder.execute(text("SELECT id FROM nominations WHERE id = :id FOR UPDATE"), {"id": pending_id})
            response, elapsed = timed("PUT", f"/nominations/{pending_id}/approval", base, json=body)
            holder.rollback()
        assert_unavailable(response)
        assert 0.9 <= elapsed < held, elapsed
    engine.dispose()
