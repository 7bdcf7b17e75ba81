"""Users service: create, read, list, update, and their audit rows."""

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.errors import DuplicateName, Forbidden, NotFound, ValidationFailed
from plaudit.models import AuditLog
from plaudit.services import users
from tests.factories import make_team, make_user
from tests.helpers import audit_rows, race_against_uncommitted

# --- create -------------------------------------------------------------


def test_create_user_stores_email_lower_case_and_trimmed_name(session, admin):
    user = users.create_user(session, admin, email="  Ada@Example.ORG ", display_name="  Ada  ", role="manager")
    assert (user.email, user.display_name, user.role, user.is_active) == ("ada@example.org", "Ada", "manager", True)
    (row,) = audit_rows(session, entity_id=user.id)
    assert row.action == "user.create" and row.actor_id == admin.id and row.entity_type == "user"
    assert row.payload == {"after": {"email": "ada@example.org", "display_name": "Ada", "role": "manager",
                                     "team_id": None, "is_active": True}}


def test_create_user_by_command_line_has_no_actor(session):
    user = users.create_user(session, None, email="cli@example.org", display_name="Cli", role="admin")
    assert audit_rows(session, entity_id=user.id)[0].actor_id is None


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_only_admins_create_users(session, role):
    actor = make_user(session, role=role)
    with pytest.raises(Forbidden):
        users.create_user(session, actor, email="x@example.org", display_name="X", role="employee")
    assert audit_rows(session) == []


def test_duplicate_email_is_duplicate_name_in_any_case(session, admin):
    make_user(session, email="taken@example.org")
    with pytest.raises(DuplicateName):
        users.create_user(session, admin, email="TAKEN@example.org", display_name="X", role="employee")
    assert audit_rows(session) == []


def test_unknown_team_is_a_validation_error_on_team_id(session, admin):
    with pytest.raises(ValidationFailed) as caught:
        users.create_user(session, admin, email="x@example.org", display_name="X", role="employee",
                          team_id=uuid.uuid4())
    assert caught.value.errors[0]["loc"] == ["body", "team_id"]
    assert audit_rows(session) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "no-at-sign"), ("email", "two@@example.org"), ("email", "@example.org"), ("email", "a@"),
     ("email", "a b@example.org"), ("email", "a@" + "x" * 320), ("display_name", "   "),
     ("display_name", "x" * 201), ("role", "boss")],
)
def test_invalid_fields_are_validation_errors(session, admin, field, value):
    fields = {"email": "ok@example.org", "display_name": "Ok", "role": "employee", field: value}
    with pytest.raises(ValidationFailed) as caught:
        users.create_user(session, admin, **fields)
    assert caught.value.errors[0]["loc"] == ["body", field]
    assert audit_rows(session) == []


# --- read and list ------------------------------------------------------


def test_get_user_shows_inactive_users_and_refuses_unknown_ids(session):
    viewer = make_user(session)
    gone = make_user(session, is_active=False)
    assert users.get_user(session, viewer, gone.id) is gone
    with pytest.raises(NotFound):
        users.get_user(session, viewer, uuid.uuid4())


def test_list_users_matches_name_or_email_case_insensitively(session):
    viewer = make_user(session)
    by_name = make_user(session, display_name="Grace ZQXHopper")
    by_email = make_user(session, email="zqxhopper@example.org")
    make_user(session, display_name="Someone Else")
    found = users.list_users(session, viewer, q="zqxHOPPER")
    assert {u.id for u in found.items} == {by_name.id, by_email.id}


def test_list_users_treats_like_wildcards_literally(session):
    viewer = make_user(session)
    make_user(session, display_name="Percent Person")
    literal = make_user(session, display_name="100% Sure")
    assert [u.id for u in users.list_users(session, viewer, q="0%").items] == [literal.id]
    assert users.list_users(session, viewer, q="_%_").items == []


def test_list_users_filters_by_team_and_hides_inactive(session):
    team = make_team(session)
    viewer = make_user(session)
    active = make_user(session, team=team)
    make_user(session, team=team, is_active=False)
    make_user(session)
    assert [u.id for u in users.list_users(session, viewer, team_id=team.id).items] == [active.id]


def test_include_inactive_is_for_admins_only(session, admin):
    team = make_team(session)
    inactive = make_user(session, team=team, is_active=False)
    assert [u.id for u in users.list_users(session, admin, team_id=team.id, include_inactive=True).items] == [
        inactive.id
    ]
    with pytest.raises(Forbidden):
        users.list_users(session, make_user(session, role="manager"), include_inactive=True)


def test_list_users_pages_by_display_name_without_gaps_or_repeats(session):
    team = make_team(session)
    made = [make_user(session, team=team, display_name=name) for name in "GFEDCBA"]
    made.append(make_user(session, team=team, display_name="D"))  # a tie on name: id decides
    seen, cursor = [], None
    while True:
        page = users.list_users(session, made[0], team_id=team.id, limit=3, cursor=cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(made) and {u.id for u in seen} == {u.id for u in made}
    assert [(u.display_name, u.id) for u in seen] == sorted((u.display_name, u.id) for u in made)


# --- update -------------------------------------------------------------


def test_update_user_writes_only_changed_fields(session, admin):
    team = make_team(session)
    user = make_user(session, display_name="Old")
    users.update_user(session, admin, user.id, display_name="New", role="employee", team_id=team.id)
    assert (user.display_name, user.team_id) == ("New", team.id)
    (row,) = audit_rows(session, entity_id=user.id)
    assert row.action == "user.update" and row.actor_id == admin.id
    assert row.payload == {"before": {"display_name": "Old", "team_id": None},
                           "after": {"display_name": "New", "team_id": str(team.id)}}


def test_update_user_that_changes_nothing_writes_nothing(session, admin):
    user = make_user(session, display_name="Same", role="manager")
    users.update_user(session, admin, user.id, display_name=" Same ", role="manager", is_active=True)
    users.update_user(session, admin, user.id)
    assert audit_rows(session) == []


def test_update_user_can_clear_the_team_and_deactivate(session, admin):
    user = make_user(session, team=make_team(session))
    users.update_user(session, admin, user.id, team_id=None, is_active=False)
    assert user.team_id is None and user.is_active is False


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_only_admins_update_users_even_themselves(session, role):
    actor = make_user(session, role=role)
    with pytest.raises(Forbidden):
        users.update_user(session, actor, actor.id, display_name="Me")
    assert audit_rows(session) == []


def test_role_check_comes_before_lookup(session):
    with pytest.raises(Forbidden):
        users.update_user(session, make_user(session), uuid.uuid4(), display_name="X")


def test_update_unknown_user_is_not_found(session, admin):
    with pytest.raises(NotFound):
        users.update_user(session, admin, uuid.uuid4(), display_name="X")


def test_update_user_to_unknown_team_is_a_validation_error(session, admin):
    user = make_user(session)
    with pytest.raises(ValidationFailed) as caught:
        users.update_user(session, admin, user.id, team_id=uuid.uuid4())
    assert caught.value.errors[0]["loc"] == ["body", "team_id"]
    assert audit_rows(session) == []


def test_last_active_admin_cannot_be_demoted_or_deactivated(session):
    sole = users.create_user(session, None, email="sole@example.org", display_name="Sole", role="admin")
    for change in ({"role": "manager"}, {"is_active": False}):
        with pytest.raises(ValidationFailed):
            users.update_user(session, sole, sole.id, **change)
    second = make_user(session, role="admin")
    users.update_user(session, sole, second.id, role="employee")  # sole still an admin: allowed
    users.update_user(session, None, second.id, role="admin")
    users.update_user(session, second, sole.id, is_active=False)  # another admin remains
    assert sole.is_active is False


def test_a_teams_manager_cannot_lose_the_manager_role(session, admin):
    manager = make_user(session, role="manager")
    make_team(session, name="Managed Team", manager=manager)
    with pytest.raises(ValidationFailed) as caught:
        users.update_user(session, admin, manager.id, role="employee")
    assert "Managed Team" in caught.value.message
    users.update_user(session, admin, manager.id, role="admin")  # still may manage
    assert audit_rows(session, entity_id=manager.id, action="user.update")[0].payload["after"] == {"role": "admin"}


def test_nul_characters_are_refused_before_the_database(session, admin):
    with pytest.raises(ValidationFailed):
        users.create_user(session, admin, email="n@example.org", display_name="a\x00b", role="employee")


def test_concurrent_creates_of_one_email_give_one_user_and_duplicate_name(committed_db):
    """Both pass the pre-check; the unique constraint decides, and the loser gets duplicate_name."""
    with Session(committed_db) as first, Session(committed_db) as second:
        users.create_user(first, None, email="race@example.org", display_name="One", role="employee")
        outcome = race_against_uncommitted(
            first, second,
            lambda: users.create_user(second, None, email="RACE@example.org", display_name="Two", role="employee"),
            ok="created", refused=(DuplicateName, "duplicate_name"),
        )
        assert outcome == {"result": "duplicate_name"}
    with Session(committed_db) as check:
        assert [r.action for r in check.scalars(select(AuditLog))] == ["user.create"]


def test_two_admins_demoting_each_other_at_once_leave_one_admin(committed_db):
    with Session(committed_db) as setup:
        a = users.create_user(setup, None, email="a@example.org", display_name="A", role="admin")
        b = users.create_user(setup, None, email="b@example.org", display_name="B", role="admin")
        setup.commit()
        a_id, b_id = a.id, b.id
    with Session(committed_db) as first, Session(committed_db) as second:
        users.update_user(first, None, a_id, role="manager")
        outcome = race_against_uncommitted(
            first, second, lambda: users.update_user(second, None, b_id, is_active=False),
            ok="done", refused=(ValidationFailed, "refused"),
        )
        assert outcome == {"result": "refused"}
