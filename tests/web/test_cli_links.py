"""The command line's sign-in links: `plaudit users invite` and `plaudit demo`."""

import re

from sqlalchemy.orm import Session

from plaudit.clock import system_clock
from plaudit.services import passwords

LINK = re.compile(r"^\s*(\w+)\s+(\S+@\S+)\s+(https?://\S+/app/set-password/(\S+))$", re.MULTILINE)


def test_invite_prints_a_one_time_link_valid_72_hours(cli, committed_db, monkeypatch):
    monkeypatch.setenv("PLAUDIT_BASE_URL", "https://plaudit.example.org/")
    from plaudit.config import get_settings

    get_settings.cache_clear()
    assert cli("users", "create", "--email", "new@example.org", "--name", "New", "--role", "employee").exit_code == 0
    result = cli("users", "invite", "NEW@example.org")
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert link.startswith("https://plaudit.example.org/app/set-password/")
    with Session(committed_db) as s:
        stored, user = passwords.link_user(s, link.rsplit("/", 1)[1], now=system_clock.now())
        assert user.email == "new@example.org" and stored.purpose == "invite"
        assert round((stored.expires_at - stored.created_at).total_seconds() / 3600) == 72


def test_invite_for_an_unknown_email_fails_cleanly(cli):
    result = cli("users", "invite", "nobody@example.org")
    assert result.exit_code == 1 and "not_found" in result.stderr and result.stdout == ""


def test_demo_prints_a_sign_in_link_for_its_admin_a_manager_and_an_employee(cli, committed_db):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    links = LINK.findall(result.stdout)
    assert [role for role, *_ in links] == ["admin", "manager", "employee"]
    with Session(committed_db) as s:
        for role, email, _, secret in links:
            _, user = passwords.link_user(s, secret, now=system_clock.now())
            assert (user.role, user.email) == (role, email)


def test_demo_leaves_notifications_to_look_at(cli, committed_db):
    from sqlalchemy import select

    from plaudit.models import Notification, User

    assert cli("demo").exit_code == 0
    with Session(committed_db) as s:
        kinds = {(email, kind) for email, kind in s.execute(
            select(User.email, Notification.kind).join(User, User.id == Notification.recipient_id))}
    manager = next(email for email, _ in kinds if email.startswith("maya.patel@"))
    employee = next(email for email, _ in kinds if email.startswith("eve.johnson@"))
    assert {(manager, "cycle_published"), (manager, "nomination_created"), (employee, "cycle_published")} <= kinds
