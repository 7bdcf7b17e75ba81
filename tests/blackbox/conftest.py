"""Black-box conformance suite: HTTP only, against a live `plaudit serve --workers 2`.

Written from /work/shared/spec/API.md and DOMAIN.md alone. The server is the
session-scoped `live_server` fixture of tests/live (its own database, an admin
bootstrapped with the command line); everything else is created over HTTP.

Time is real: windows are set relative to the system clock, and a cycle is
closed for finalization by moving its window bounds into the past with PATCH.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.live.conftest import live_server  # noqa: F401  (session fixture: own server)

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}

USER_KEYS = {"id", "email", "display_name", "role", "team_id", "is_active", "created_at"}
TEAM_KEYS = {"id", "name", "manager_id", "created_at"}
TOKEN_KEYS = {"id", "user_id", "name", "created_at", "expires_at", "revoked_at"}
CYCLE_KEYS = {
    "id", "name", "description", "status", "nomination_opens_at", "nomination_closes_at",
    "approval_opens_at", "approval_closes_at", "rating_min", "rating_max", "required_approvals",
    "max_nominations_per_nominator", "award_slots", "nominator_roles", "winner_cooldown_cycles",
    "score_normalization", "nominations_open",
    "approvals_open", "created_at", "updated_at", "published_at", "finalized_at", "archived_at",
}
CRITERION_KEYS = {"id", "cycle_id", "name", "description", "weight", "position"}
NOMINATION_KEYS = {
    "id", "cycle_id", "cycle_name", "nominator_id", "nominator_name", "nominee_id", "nominee_name",
    "nominee_team_name", "justification", "status", "approvals_count", "created_at", "updated_at", "withdrawn_at",
}
APPROVAL_KEYS = {
    "id", "nomination_id", "approver_id", "approver_name", "decision", "comment", "ratings", "created_at",
    "updated_at",
}
RESULTS_KEYS = {
    "cycle_id", "cycle_name", "finalized_at", "award_slots", "pending_nominations", "inputs_digest", "items",
}
RESULT_ITEM_KEYS = {
    "rank", "nominee_id", "nominee_name", "team_id", "score", "approved_nominations", "is_winner", "spread",
    "tie_break", "criteria",
}
RESULT_CRITERION_KEYS = {"criterion_id", "name", "weight", "mean"}
AWARD_KEYS = {"cycle_id", "cycle_name", "finalized_at", "rank", "score", "approved_nominations", "is_winner"}
AUDIT_KEYS = {
    "id", "occurred_at", "actor_id", "actor_name", "action", "entity_type", "entity_id", "payload", "request_id",
}
PAGE_KEYS = {"items", "next_cursor"}

JUSTIFICATION = "Consistently excellent work on the platform team."


def uniq() -> str:
    return uuid.uuid4().hex[:10]


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def parse_utc(value: str) -> datetime:
    """A time in a response: ISO 8601 with a UTC offset."""
    assert isinstance(value, str), value
    assert value.endswith(("Z", "+00:00")), f"not UTC: {value}"
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def assert_problem(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, f"expected {status} {code}, got {resp.status_code}: {resp.text}"
    assert resp.headers["content-type"].split(";")[0].strip() == "application/problem+json", resp.headers
    body = resp.json()
    expected = PROBLEM_KEYS | ({"errors"} if body.get("code") == "validation_error" else set())
    assert set(body) == expected, body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    if body["code"] == "validation_error":
        assert isinstance(body["errors"], list) and body["errors"], body
        for err in body["errors"]:
            assert isinstance(err["loc"], list) and isinstance(err["msg"], str), err
    return body


def windows(nominations: str = "open", approvals: str = "open") -> dict[str, str]:
    """Window bounds relative to now satisfying the invariants.

    nominations/approvals: "before" (not yet open), "open", "after" (closed).
    """
    t = now()
    h = timedelta(hours=1)
    table = {
        ("open", "open"): (t - 2 * h, t + h, t - h, t + 2 * h),
        ("before", "before"): (t + h, t + 2 * h, t + h, t + 3 * h),
        ("open", "before"): (t - h, t + h, t + h / 2, t + 2 * h),
        ("after", "open"): (t - 2 * h, t - h, t - h, t + h),
        ("after", "after"): (t - 3 * h, t - 2 * h, t - 2 * h, t - h),
        ("after", "before"): (t - 3 * h, t - 2 * h, t + h, t + 2 * h),
    }
    no, nc, ao, ac = table[(nominations, approvals)]
    return {
        "nomination_opens_at": iso(no),
        "nomination_closes_at": iso(nc),
        "approval_opens_at": iso(ao),
        "approval_closes_at": iso(ac),
    }


class Caller:
    """One identity talking HTTP (token may be None for anonymous)."""

    def __init__(self, http: httpx.Client, token: str | None):
        self.http = http
        self.token = token

    def _headers(self, extra: dict | None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, *, headers: dict | None = None, **kw) -> httpx.Response:
        return self.http.request(method, path, headers=self._headers(headers), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@dataclass
class Person:
    id: str
    token: str
    user: dict
    api: Caller

    @property
    def name(self) -> str:
        return self.user["display_name"]


@dataclass
class Plaudit:
    base_url: str
    admin_token: str
    http: httpx.Client
    admin: Caller = field(init=False)

    def __post_init__(self):
        self.admin = Caller(self.http, self.admin_token)

    def as_(self, token: str | None) -> Caller:
        return Caller(self.http, token)

    def anon(self) -> Caller:
        return Caller(self.http, None)

    # ---- people -------------------------------------------------------
    def user(self, role: str = "employee", team_id: str | None = None, name: str | None = None) -> Person:
        tag = uniq()
        body: dict[str, Any] = {"email": f"u{tag}@example.org", "display_name": name or f"User {tag}", "role": role}
        if team_id:
            body["team_id"] = team_id
        r = self.admin.post("/users", json=body)
        assert r.status_code == 201, r.text
        user = r.json()
        t = self.admin.post(f"/users/{user['id']}/tokens", json={"name": "bb"})
        assert t.status_code == 201, t.text
        token = t.json()["token"]
        return Person(id=user["id"], token=token, user=user, api=self.as_(token))

    def team(self, manager_id: str | None = None) -> dict:
        body: dict[str, Any] = {"name": f"Team {uniq()}"}
        if manager_id:
            body["manager_id"] = manager_id
        r = self.admin.post("/teams", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def team_with_manager(self) -> tuple[dict, Person]:
        manager = self.user("manager")
        team = self.team(manager.id)
        r = self.admin.patch(f"/users/{manager.id}", json={"team_id": team["id"]})
        assert r.status_code == 200, r.text
        return team, manager

    # ---- cycles -------------------------------------------------------
    def cycle(self, nominations: str = "open", approvals: str = "open", **fields) -> dict:
        body = {"name": f"Cycle {uniq()}", **windows(nominations, approvals), **fields}
        r = self.admin.post("/cycles", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def criterion(self, cycle_id: str, name: str, weight: str, position: int | None = None) -> dict:
        body: dict[str, Any] = {"name": name, "weight": weight}
        if position is not None:
            body["position"] = position
        r = self.admin.post(f"/cycles/{cycle_id}/criteria", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def published(
        self, nominations="open", approvals="open", criteria=(("Impact", "1"),), **fields
    ) -> tuple[dict, list[dict]]:
        c = self.cycle(nominations, approvals, **fields)
        crits = [self.criterion(c["id"], n, w, position=i) for i, (n, w) in enumerate(criteria)]
        r = self.admin.post(f"/cycles/{c['id']}/publish")
        assert r.status_code == 200, r.text
        return r.json(), crits

    def set_windows(self, cycle_id: str, nominations: str, approvals: str) -> dict:
        r = self.admin.patch(f"/cycles/{cycle_id}", json=windows(nominations, approvals))
        assert r.status_code == 200, r.text
        return r.json()

    def close(self, cycle_id: str) -> dict:
        """Close both windows a second ago (the invariants still hold)."""
        past = iso(now() - timedelta(seconds=1))
        r = self.admin.patch(
            f"/cycles/{cycle_id}", json={"nomination_closes_at": past, "approval_closes_at": past}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def finalize(self, cycle_id: str) -> dict:
        r = self.admin.post(f"/cycles/{cycle_id}/finalize")
        assert r.status_code == 200, r.text
        return r.json()

    # ---- nominations / approvals ---------------------------------------
    def nominate(self, nominator: Person, cycle_id: str, nominee_id: str, justification: str = JUSTIFICATION) -> dict:
        r = nominator.api.post(f"/cycles/{cycle_id}/nominations",
                               json={"nominee_id": nominee_id, "justification": justification})
        assert r.status_code == 201, r.text
        return r.json()

    def approve(self, approver: Caller, nomination_id: str, ratings: dict[str, int]) -> dict:
        r = approver.put(f"/nominations/{nomination_id}/approval", json={
            "decision": "approve",
            "ratings": [{"criterion_id": k, "value": v} for k, v in ratings.items()],
        })
        assert r.status_code in (200, 201), r.text
        return r.json()

    def reject(self, approver: Caller, nomination_id: str, comment: str = "Not this time.") -> dict:
        r = approver.put(f"/nominations/{nomination_id}/approval", json={"decision": "reject", "comment": comment})
        assert r.status_code in (200, 201), r.text
        return r.json()

    # ---- audit -------------------------------------------------------
    def audit(self, **params) -> list[dict]:
        params.setdefault("limit", 200)
        r = self.admin.get("/audit-logs", params=params)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def all_pages(self, caller: Caller, path: str, **params) -> list[dict]:
        items: list[dict] = []
        cursor = None
        for _ in range(1000):
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            r = caller.get(path, params=q)
            assert r.status_code == 200, r.text
            body = r.json()
            assert set(body) == PAGE_KEYS
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return items
        raise AssertionError("paging never ended")


def concurrently(n: int, fn) -> list:
    """Run fn(i) in n threads released together; each thread gets its own client."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture(scope="session")
def px(live_server) -> Plaudit:  # noqa: F811
    with httpx.Client(base_url=live_server.base_url, timeout=30.0) as http:
        yield Plaudit(live_server.base_url, live_server.admin_token, http)


@pytest.fixture(scope="session")
def base_url(live_server) -> str:  # noqa: F811
    return live_server.base_url
