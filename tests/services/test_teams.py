"""Teams service: create, read, list, update, uniqueness under races, audit rows."""

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.errors import DuplicateName, Forbidden, NotFound, ValidationFailed
from plaudit.models import AuditLog, Team
from plaudit.services import teams, users
from tests.factories import make_team, make_user
from tests.helpers import audit_rows, race_against_uncommitted


def test_create_team_with_a_manager(session, admin):
    manager = make_user(session, role="manager")
    team = teams.create_team(session, admin, name="  Platform  ", manager_id=manager.id)
    assert (team.name, team.manager_id) == ("Platform", manager.id)
    (row,) = audit_rows(session, entity_id=team.id)
    assert (row.action, row.entity_type, row.actor_id) == ("team.create", "team", admin.id)
    assert row.payload == {"after": {"name": "Platform", "manager_id": str(manager.id)}}


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_only_admins_create_teams(session, role):
    with pytest.raises(Forbidden):
        teams.create_team(session, make_user(session, role=role), name="Nope")
    assert audit_rows(session) == []


def test_team_names_are_unique_case_insensitively(session, admin):
    make_team(session, name="Design")
    with pytest.raises(DuplicateName):
        teams.create_team(session, admin, name=" dESIGN ")
    assert audit_rows(session) == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_team_name_must_be_1_to_200_characters(session, admin, name):
    with pytest.raises(ValidationFailed) as caught:
        teams.create_team(session, admin, name=name)
    assert caught.value.errors[0]["loc"] == ["body", "name"]


@pytest.mark.parametrize(
    ("role", "is_active", "ok"),
    [("manager", True, True), ("admin", True, True), ("employee", True, False), ("team_lead", True, False),
     ("manager", False, False)],
)
def test_manager_must_be_an_active_manager_or_admin(session, admin, role, is_active, ok):
    candidate = make_user(session, role=role, is_active=is_active)
    if ok:
        assert teams.create_team(session, admin, name="Ops", manager_id=candidate.id).manager_id == candidate.id
        return
    with pytest.raises(ValidationFailed) as caught:
        teams.create_team(session, admin, name="Ops", manager_id=candidate.id)
    assert caught.value.errors[0]["loc"] == ["body", "manager_id"]
    assert audit_rows(session) == []


def test_unknown_manager_is_a_validation_error(session, admin):
    with pytest.raises(ValidationFailed):
        teams.create_team(session, admin, name="Ops", manager_id=uuid.uuid4())


def test_get_team_for_any_user_and_not_found(session):
    team = make_team(session)
    viewer = make_user(session)
    assert teams.get_team(session, viewer, team.id) is team
    with pytest.raises(NotFound):
        teams.get_team(session, viewer, uuid.uuid4())


def test_list_teams_pages_by_name_case_insensitively(session):
    viewer = make_user(session)
    names = ["delta", "Alpha", "charlie", "Bravo", "echo", "Foxtrot", "golf"]
    for name in names:
        make_team(session, name=f"ZZ {name}")
    seen, cursor = [], None
    while True:
        page = teams.list_teams(session, viewer, limit=3, cursor=cursor)
        seen.extend(t.name for t in page.items)
        if (cursor := page.next_cursor) is None:
            break
    mine = [n for n in seen if n.startswith("ZZ ")]
    assert mine == sorted((f"ZZ {n}" for n in names), key=str.lower)


def test_update_team_writes_only_changed_fields(session, admin):
    manager = make_user(session, role="manager")
    team = make_team(session, name="Old")
    teams.update_team(session, admin, team.id, name="New", manager_id=manager.id)
    (row,) = audit_rows(session, entity_id=team.id)
    assert row.action == "team.update"
    assert row.payload == {"before": {"name": "Old", "manager_id": None},
                           "after": {"name": "New", "manager_id": str(manager.id)}}


def test_update_team_that_changes_nothing_writes_nothing(session, admin):
    manager = make_user(session, role="manager")
    team = make_team(session, name="Same", manager=manager)
    teams.update_team(session, admin, team.id, name=" Same ", manager_id=manager.id)
    teams.update_team(session, admin, team.id)
    assert audit_rows(session) == []


def test_renaming_a_team_to_another_case_of_its_own_name_is_allowed(session, admin):
    team = make_team(session, name="qa")
    teams.update_team(session, admin, team.id, name="QA")
    assert team.name == "QA"


def test_renaming_to_a_taken_name_is_duplicate_name(session, admin):
    make_team(session, name="Taken")
    team = make_team(session, name="Free")
    with pytest.raises(DuplicateName):
        teams.update_team(session, admin, team.id, name="TAKEN")
    assert audit_rows(session) == []


def test_update_team_can_remove_the_manager(session, admin):
    team = make_team(session, manager=make_user(session, role="manager"))
    teams.update_team(session, admin, team.id, manager_id=None)
    assert team.manager_id is None


def test_update_team_role_check_comes_before_lookup(session):
    with pytest.raises(Forbidden):
        teams.update_team(session, make_user(session, role="manager"), uuid.uuid4(), name="X")
    with pytest.raises(NotFound):
        teams.update_team(session, make_user(session, role="admin"), uuid.uuid4(), name="X")


def test_update_team_rejects_a_non_manager(session, admin):
    team = make_team(session)
    with pytest.raises(ValidationFailed):
        teams.update_team(session, admin, team.id, manager_id=make_user(session, role="employee").id)
    assert audit_rows(session) == []


def test_concurrent_creates_of_one_name_give_one_team_and_duplicate_name(committed_db):
    """Both pass the pre-check; the unique index decides, and the loser gets duplicate_name."""
    with Session(committed_db) as first, Session(committed_db) as second:
        teams.create_team(first, None, name="Race")  # flushed, not committed: holds the index entry
        outcome = race_against_uncommitted(
            first, second, lambda: teams.create_team(second, None, name="RACE"),
            ok="created", refused=(DuplicateName, "duplicate_name"),
        )
        assert outcome == {"result": "duplicate_name"}
    with Session(committed_db) as check:
        assert check.scalar(select(Team.name)) == "Race"
        assert [r.action for r in check.scalars(select(AuditLog))] == ["team.create"]


def test_demotion_racing_a_manager_assignment_cannot_both_succeed(committed_db):
    """update_team locks the manager FOR SHARE; update_user locks the user for
    update, so one waits for the other and then sees its effect."""
    with Session(committed_db) as setup:
        manager = users.create_user(setup, None, email="m@example.org", display_name="M", role="manager")
        team = teams.create_team(setup, None, name="T")
        setup.commit()
        manager_id, team_id = manager.id, team.id
    with Session(committed_db) as first, Session(committed_db) as second:
        teams.update_team(first, None, team_id, manager_id=manager_id)
        outcome = race_against_uncommitted(
            first, second, lambda: users.update_user(second, None, manager_id, role="employee"),
            ok="demoted", refused=(ValidationFailed, "refused"),
        )
        assert outcome == {"result": "refused"}
