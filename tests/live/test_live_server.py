"""End to end against `plaudit serve --workers 2`: real sockets, real
processes, real commits. The race tests send simultaneous requests that land
on both worker processes; the database must still let exactly one win."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

import httpx
import pytest

from tests.live.conftest import LiveServer

CONCURRENCY = 16


def test_healthz(live_server: LiveServer):
    response = httpx.get(f"{live_server.base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_a_request_without_a_token_is_401(live_server: LiveServer):
    with live_server.client() as c:
        response = c.get("/users/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"


def test_the_bootstrapped_admin_token_works(live_server: LiveServer):
    with live_server.client(live_server.admin_token) as c:
        response = c.get("/users/me")
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["email"], me["role"], me["display_name"]) == ("live-admin@example.org", "admin", "Live Admin")


def test_request_id_is_echoed(live_server: LiveServer):
    with live_server.client() as c:
        assert c.get("/healthz", headers={"X-Request-ID": "live-42"}).headers["x-request-id"] == "live-42"
        assert uuid.UUID(c.get("/healthz").headers["x-request-id"])


def test_openapi_is_served(live_server: LiveServer):
    with live_server.client() as c:
        spec = c.get("/openapi.json").json()
    assert "/cycles/{cycle_id}/nominations" in spec["paths"]


# --- cross-process races ----------------------------------------------------------


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _published_cycle(admin: httpx.Client, **fields) -> dict:
    """A published cycle whose nomination window is open now (the server's
    real clock), with one criterion."""
    now = datetime.now(UTC)
    cycle = _ok(admin.post("/cycles", json={
        "name": f"Live race {uuid.uuid4().hex[:8]}",
        "nomination_opens_at": (now - timedelta(hours=1)).isoformat(),
        "nomination_closes_at": (now + timedelta(days=1)).isoformat(),
        "approval_opens_at": (now - timedelta(hours=1)).isoformat(),
        "approval_closes_at": (now + timedelta(days=2)).isoformat(),
        **fields,
    }), 201)
    _ok(admin.post(f"/cycles/{cycle['id']}/criteria", json={"name": "Impact", "weight": "1"}), 201)
    return _ok(admin.post(f"/cycles/{cycle['id']}/publish"))


def _user_with_token(admin: httpx.Client, role: str = "employee") -> tuple[dict, str]:
    tag = uuid.uuid4().hex[:8]
    user = _ok(admin.post("/users", json={"email": f"live-{tag}@example.org", "display_name": f"Live {tag}",
                                          "role": role}), 201)
    token = _ok(admin.post(f"/users/{user['id']}/tokens", json={"name": "race"}), 201)["token"]
    return user, token


def _all_at_once(live_server: LiveServer, token: str, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Send the requests simultaneously, each on its own connection (so the
    server spreads them over its workers), released together by a barrier."""
    barrier = Barrier(len(requests))

    def send(request: tuple[str, dict]) -> httpx.Response:
        path, body = request
        with live_server.client(token) as c:
            barrier.wait(timeout=30)
            return c.post(path, json=body)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def _tally(responses: list[httpx.Response]) -> dict[tuple[int, str | None], int]:
    tally: dict[tuple[int, str | None], int] = {}
    for r in responses:
        code = r.json().get("code") if r.headers.get("content-type") == "application/problem+json" else None
        tally[(r.status_code, code)] = tally.get((r.status_code, code), 0) + 1
    return tally


def test_simultaneous_duplicate_nominations_across_workers_let_exactly_one_through(live_server: LiveServer):
    with live_server.client(live_server.admin_token) as admin:
        cycle = _published_cycle(admin)
        nominator, token = _user_with_token(admin)
        nominee, _ = _user_with_token(admin)
        body = {"nominee_id": nominee["id"], "justification": "Shipped the impossible project on time."}

        responses = _all_at_once(live_server, token, [(f"/cycles/{cycle['id']}/nominations", body)] * CONCURRENCY)

        assert _tally(responses) == {(201, None): 1, (409, "duplicate_nomination"): CONCURRENCY - 1}
        listed = _ok(admin.get(f"/cycles/{cycle['id']}/nominations", params={"nominator_id": nominator["id"]}))
        assert len(listed["items"]) == 1
        audit = _ok(admin.get("/audit-logs", params={"action": "nomination.create", "actor_id": nominator["id"]}))
        assert len(audit["items"]) == 1
        # The audit row carries the id of the one request that succeeded.
        (winner,) = [r for r in responses if r.status_code == 201]
        assert audit["items"][0]["request_id"] == winner.headers["x-request-id"]


def test_simultaneous_nominations_over_quota_across_workers_let_exactly_the_quota_through(live_server: LiveServer):
    quota = 3
    with live_server.client(live_server.admin_token) as admin:
        cycle = _published_cycle(admin, max_nominations_per_nominator=quota)
        nominator, token = _user_with_token(admin)
        nominees = [_user_with_token(admin)[0] for _ in range(CONCURRENCY)]
        requests = [
            (f"/cycles/{cycle['id']}/nominations",
             {"nominee_id": n["id"], "justification": "Mentored half the team this quarter."})
            for n in nominees
        ]

        responses = _all_at_once(live_server, token, requests)

        assert _tally(responses) == {(201, None): quota, (409, "quota_exceeded"): CONCURRENCY - quota}
        listed = _ok(admin.get(f"/cycles/{cycle['id']}/nominations", params={"nominator_id": nominator["id"]}))
        assert len(listed["items"]) == quota


@pytest.mark.parametrize("attempt", range(2))
def test_simultaneous_team_creation_with_one_name_gives_one_team(live_server: LiveServer, attempt):
    """The unique index decides; the losers get duplicate_name, not a 500."""
    name = f"Race team {uuid.uuid4().hex[:8]}"
    responses = _all_at_once(live_server, live_server.admin_token,
                             [("/teams", {"name": name if i % 2 else name.upper()}) for i in range(CONCURRENCY)])
    assert _tally(responses) == {(201, None): 1, (409, "duplicate_name"): CONCURRENCY - 1}


def test_the_server_seals_the_audit_log_on_its_own(live_server: LiveServer):
    """`plaudit serve`'s worker seals every 2 seconds (a periodic job): rows
    written through the API are in the chain shortly after."""
    import psycopg

    from plaudit.db.session import normalize_url

    with live_server.client(live_server.admin_token) as api:
        assert api.post("/teams", json={"name": f"Sealed {uuid.uuid4().hex[:8]}"}).status_code == 201
    url = normalize_url(live_server.database_url).replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + 20
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            unsealed = conn.execute(
                "SELECT count(*) FROM audit_logs a"
                " WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_id = a.id)"
            ).fetchone()[0]
            if unsealed == 0:
                break
            assert time.monotonic() < deadline, f"{unsealed} rows still unsealed"
            time.sleep(0.2)
