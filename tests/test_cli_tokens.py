"""`plaudit tokens create` and `plaudit demo`: tokens expire after 90 days
unless `--expires never` (API.md, Tokens)."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.clock import system_clock
from plaudit.models import ApiToken
from plaudit.services.auth import hash_token
from tests.test_cli_people import SAMPLE


def _expiry(engine, secret: str):
    with Session(engine) as s:
        return s.scalar(select(ApiToken.expires_at).where(ApiToken.token_hash == hash_token(secret)))


def _about(when, expected) -> bool:
    return abs(when - expected) < timedelta(minutes=5)


def test_cli_tokens_expire_after_90_days_unless_never(cli, committed_db):
    assert cli("users", "create", "--email", "ops@example.org", "--name", "Ops", "--role", "admin").exit_code == 0
    default = cli("tokens", "create", "ops@example.org").stdout.strip()
    assert _about(_expiry(committed_db, default), system_clock.now() + timedelta(days=90))
    never = cli("tokens", "create", "ops@example.org", "--expires", "never").stdout.strip()
    assert _expiry(committed_db, never) is None
    dated = cli("tokens", "create", "ops@example.org", "--expires", "2031-01-31").stdout.strip()
    assert _expiry(committed_db, dated).isoformat() == "2031-01-31T00:00:00+00:00"
    refused = cli("tokens", "create", "ops@example.org", "--expires", "soon")
    assert refused.exit_code != 0


def test_demo_tokens_expire_after_90_days_unless_never(cli, committed_db):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    secrets = [m[2] for m in SAMPLE.findall(result.stdout)]
    assert secrets
    for secret in secrets:
        assert _about(_expiry(committed_db, secret), system_clock.now() + timedelta(days=90))
    result = cli("demo", "--expires", "never")
    assert result.exit_code == 0, result.output
    assert all(_expiry(committed_db, m[2]) is None for m in SAMPLE.findall(result.stdout))
