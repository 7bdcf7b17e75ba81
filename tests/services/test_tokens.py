"""Tokens service: issue and revoke, who may, and what is audited."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import inspect as sa_inspect

from plaudit.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from plaudit.models import ApiToken, User
from plaudit.services import tokens
from plaudit.services.auth import authenticate, hash_token
from tests.conftest import NOW
from tests.factories import make_user
from tests.helpers import audit_rows


def test_user_issues_own_token_which_authenticates(session):
    user = make_user(session)
    issued = tokens.create_token(session, user, user, name=" laptop ", now=NOW)
    assert issued.token.name == "laptop"
    assert issued.token.token_hash == hash_token(issued.secret)
    assert authenticate(session, issued.secret, now=NOW).id == user.id
    (row,) = audit_rows(session, entity_id=issued.token.id)
    assert (row.action, row.entity_type, row.actor_id) == ("token.create", "token", user.id)
    assert row.payload == {"after": {"user_id": str(user.id), "name": "laptop",
                                     "expires_at": (NOW + timedelta(days=90)).isoformat(), "revoked_at": None}}


def test_authenticate_returns_the_sessions_own_user_or_adds_one_without_a_query(session):
    user = make_user(session)
    issued = tokens.create_token(session, user, user, name="laptop", now=NOW)
    assert authenticate(session, issued.secret, now=NOW) is user
    session.expunge(user)
    adopted = authenticate(session, issued.secret, now=NOW)
    assert adopted is not user and sa_inspect(adopted).persistent and adopted in session
    columns = [c.key for c in sa_inspect(User).columns]
    assert [getattr(adopted, c) for c in columns] == [getattr(user, c) for c in columns]


def test_admin_issues_a_token_for_another_user(session):
    admin, user = make_user(session, role="admin"), make_user(session)
    assert tokens.create_token(session, admin, user, name="t", now=NOW).token.user_id == user.id


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_non_admin_may_not_issue_tokens_for_others(session, role):
    with pytest.raises(Forbidden):
        tokens.create_token(session, make_user(session, role=role), make_user(session), name="t", now=NOW)
    assert audit_rows(session) == []


def test_expiry_must_be_in_the_future(session):
    user = make_user(session)
    with pytest.raises(ValidationFailed) as caught:
        tokens.create_token(session, user, user, name="t", expires_at=NOW, now=NOW)
    assert caught.value.errors[0]["loc"] == ["body", "expires_at"]
    assert audit_rows(session) == []


def test_token_name_must_not_be_blank(session):
    user = make_user(session)
    with pytest.raises(ValidationFailed):
        tokens.create_token(session, user, user, name="  ", now=NOW)


def test_owner_revokes_a_token_once_and_it_stops_authenticating(session):
    user = make_user(session)
    issued = tokens.create_token(session, user, user, name="t", expires_at=NOW + timedelta(days=1), now=NOW)
    tokens.revoke_token(session, user, issued.token.id, now=NOW)
    assert issued.token.revoked_at == NOW
    with pytest.raises(Unauthenticated):
        authenticate(session, issued.secret, now=NOW)
    revoke_rows = [r for r in audit_rows(session, entity_id=issued.token.id) if r.action == "token.revoke"]
    assert len(revoke_rows) == 1
    assert revoke_rows[0].payload == {"before": {"revoked_at": None}, "after": {"revoked_at": NOW.isoformat()}}


def test_revoking_a_revoked_token_changes_nothing_and_writes_no_audit_row(session):
    user = make_user(session)
    issued = tokens.create_token(session, None, user, name="t", now=NOW)
    tokens.revoke_token(session, user, issued.token.id, now=NOW)
    before = len(audit_rows(session))
    again = tokens.revoke_token(session, user, issued.token.id, now=NOW + timedelta(hours=1))
    assert again.revoked_at == NOW
    assert len(audit_rows(session)) == before


def test_admin_revokes_anyones_token(session):
    admin, user = make_user(session, role="admin"), make_user(session)
    issued = tokens.create_token(session, None, user, name="t", now=NOW)
    tokens.revoke_token(session, admin, issued.token.id, now=NOW)
    assert audit_rows(session, entity_id=issued.token.id)[-1].actor_id == admin.id


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_others_cannot_see_a_token_to_revoke_it(session, role):
    owner = make_user(session)
    issued = tokens.create_token(session, None, owner, name="t", now=NOW)
    with pytest.raises(NotFound):
        tokens.revoke_token(session, make_user(session, role=role), issued.token.id, now=NOW)
    assert session.get(ApiToken, issued.token.id).revoked_at is None
    assert [r.action for r in audit_rows(session)] == ["token.create"]


def test_revoking_an_unknown_token_is_not_found(session):
    with pytest.raises(NotFound):
        tokens.revoke_token(session, make_user(session, role="admin"), uuid.uuid4(), now=NOW)
