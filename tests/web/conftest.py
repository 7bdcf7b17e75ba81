"""The web app over HTTP, as a browser without JavaScript uses it: pages,
forms with their CSRF token, cookies, redirects."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from plaudit.models import Credential, User
from tests.factories import make_user

PASSWORD = "correct horse battery staple"
# Argon2id with small costs: verifying reads the costs from the hash, so the
# tests' sign-ins stay fast while the app hashes new passwords at full cost.
_cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One browser: its own cookie jar, never following redirects by itself."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs):
        return self.client.get(path, follow_redirects=False, **kwargs)

    def csrf(self, page: str) -> str:
        response = self.get(page)
        assert response.status_code == 200, (page, response.status_code)
        return _CSRF.search(response.text).group(1)

    def post(self, path: str, data: dict | None = None, *, page: str | None = None, files=None):
        """Submit a form found on `page` (default: `path`) with its CSRF token."""
        token = self.csrf(page or path)
        return self.client.post(path, data={**(data or {}), "csrf_token": token}, files=files,
                                follow_redirects=False)

    def sign_in(self, user: User, password: str = PASSWORD):
        response = self.post("/app/login", {"email": user.email, "password": password})
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def browser(client: TestClient) -> Browser:
    return Browser(client)


@pytest.fixture
def new_browser(app) -> Iterator[Callable[[], Browser]]:
    """More browsers on the same app, each with its own cookies."""
    clients: list[TestClient] = []

    def make() -> Browser:
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return Browser(client)

    yield make
    for client in clients:
        client.close()


def give_password(session: Session, user: User, password: str = PASSWORD) -> User:
    session.add(Credential(user_id=user.id, password_hash=_cheap.hash(password), changed_at=datetime.now(UTC)))
    session.flush()
    return user


@pytest.fixture
def person(session: Session) -> Callable[..., User]:
    """A user with a password (`PASSWORD`)."""

    def make(role: str = "employee", **fields) -> User:
        return give_password(session, make_user(session, role=role, **fields))

    return make
