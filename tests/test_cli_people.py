"""The command line for people: `users create`, `tokens create`, `demo`,
run in-process against a really-committing database (`committed_db`)."""

import re
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.cli import DEMO_ADMIN
from plaudit.clock import system_clock
from plaudit.models import ApiToken, AuditLog, Criterion, Cycle, Team, User
from plaudit.services.auth import authenticate, hash_token
from plaudit.services.cycles import approvals_open, nominations_open

TOKEN = re.compile(r"plt_[A-Za-z0-9_-]{43}")
SAMPLE = re.compile(r"^\s*(\w+)\s+(\S+@\S+)\s+(plt_\S+)$", re.MULTILINE)


def test_users_create_prints_the_id_and_audits_without_actor(cli, committed_db):
    team = cli("demo")  # gives us a team to join
    assert team.exit_code == 0, team.output
    result = cli("users", "create", "--email", "New.Hire@Example.org", "--name", " New Hire ", "--role",
                 "employee", "--team", "engineering (DEMO)")
    assert result.exit_code == 0, result.output
    with Session(committed_db) as s:
        user = s.get(User, result.stdout.strip())
        assert (user.email, user.display_name, user.role) == ("new.hire@example.org", "New Hire", "employee")
        assert s.get(Team, user.team_id).name == "Engineering (demo)"
        row = s.scalar(select(AuditLog).where(AuditLog.entity_id == user.id))
        assert (row.action, row.actor_id, row.request_id) == ("user.create", None, None)


def test_users_create_refuses_a_duplicate_email_with_its_code(cli, committed_db):
    assert cli("users", "create", "--email", "a@example.org", "--name", "A", "--role", "admin").exit_code == 0
    result = cli("users", "create", "--email", "A@EXAMPLE.ORG", "--name", "A2", "--role", "admin")
    assert result.exit_code == 1
    assert "duplicate_name" in result.stderr
    with Session(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 1


def test_tokens_create_prints_only_the_token(cli, committed_db):
    assert cli("users", "create", "--email", "t@example.org", "--name", "T", "--role", "manager").exit_code == 0
    result = cli("tokens", "create", "T@example.org", "--name", "laptop")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert TOKEN.fullmatch(secret) and result.stdout == secret + "\n"
    with Session(committed_db) as s:
        assert authenticate(s, secret, now=system_clock.now()).email == "t@example.org"
        token = s.scalar(select(ApiToken))
        assert (token.name, token.token_hash) == ("laptop", hash_token(secret))
        row = s.scalar(select(AuditLog).where(AuditLog.action == "token.create"))
        assert secret not in str(row.payload) and row.actor_id is None


def test_tokens_create_for_unknown_email_fails_cleanly(cli):
    result = cli("tokens", "create", "nobody@example.org")
    assert result.exit_code == 1 and "not_found" in result.stderr and result.stdout == ""


def test_demo_seeds_an_organisation_and_an_open_published_cycle(cli, committed_db):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    samples = SAMPLE.findall(result.stdout)
    assert [role for role, _, _ in samples] == ["admin", "manager", "employee"]
    now = system_clock.now()
    with Session(committed_db) as s:
        for role, email, secret in samples:  # each printed token logs in as the user on its line
            user = authenticate(s, secret, now=now)
            assert (user.role, user.email) == (role, email)

        teams = s.scalars(select(Team)).all()
        assert 2 <= len(teams) <= 3
        for team in teams:
            manager = s.get(User, team.manager_id)
            assert manager.role == "manager" and manager.team_id == team.id
        counts = dict(s.execute(select(User.role, func.count()).group_by(User.role)).all())
        assert counts["admin"] == 1 and counts["team_lead"] >= 1 and counts["employee"] >= 4

        (cycle,) = s.scalars(select(Cycle)).all()
        assert cycle.status == "published" and cycle.published_at is not None
        assert nominations_open(cycle, now) and approvals_open(cycle, now)
        weights = s.scalars(select(Criterion.weight).where(Criterion.cycle_id == cycle.id)).all()
        assert len(weights) == 3 and sum(weights) == Decimal("1")

        actions = [a for (a,) in s.execute(select(AuditLog.action).order_by(AuditLog.seq))]
        assert actions.count("cycle.create") == 1 and actions.count("criterion.create") == 3
        assert actions.count("cycle.publish") == 1 and actions.index("cycle.publish") > actions.index("cycle.create")
        assert actions.count("user.create") == s.scalar(select(func.count()).select_from(User))
        assert actions.count("team.create") == len(teams) and actions.count("token.create") == 3
        publish = s.scalar(select(AuditLog).where(AuditLog.action == "cycle.publish"))
        assert publish.payload["before"]["status"] == "draft" and publish.payload["after"]["status"] == "published"


def test_demo_run_twice_creates_nothing_new_and_prints_fresh_tokens(cli, committed_db):
    first = cli("demo")
    assert first.exit_code == 0, first.output
    with Session(committed_db) as s:
        users_before = s.scalar(select(func.count()).select_from(User))
    second = cli("demo")
    assert second.exit_code == 0, second.output
    assert "already exists" in second.stdout
    fresh = TOKEN.findall(second.stdout)
    assert len(fresh) == 3 and not set(fresh) & set(TOKEN.findall(first.stdout))
    with Session(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(User)) == users_before
        assert s.scalar(select(func.count()).select_from(Cycle)) == 1
        assert authenticate(s, fresh[0], now=system_clock.now()).email == DEMO_ADMIN
