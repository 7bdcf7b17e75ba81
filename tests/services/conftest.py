"""Fixtures shared by the service tests (a module may override one with its own)."""

import pytest

from tests.factories import make_user


@pytest.fixture
def admin(session):
    return make_user(session, role="admin")


@pytest.fixture
def employee(session):
    return make_user(session, role="employee")
