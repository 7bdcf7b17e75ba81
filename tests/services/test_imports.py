"""People import (DOMAIN.md "People import"): parse, plan, apply; all or nothing."""

import hashlib

import pytest
from sqlalchemy import func, select

from plaudit.errors import Forbidden, ImportInvalid
from plaudit.models import ApiToken, AuditLog, Team, User
from plaudit.services.imports import import_people
from tests.conftest import NOW
from tests.factories import make_team, make_token, make_user
from tests.helpers import audit_rows, row_count

HEADER = "email,display_name,role,team,team_manager_email,active\n"


def run(session, actor, csv_text: str, **options):
    return import_people(session, actor, csv_text.encode(), now=NOW, **options)


def user_by(session, email: str) -> User:
    return session.scalar(select(User).where(User.email == email))


def team_by(session, name: str) -> Team:
    return session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))


def snapshot(session):
    """Everything an import could change."""
    users = session.execute(select(User.email, User.display_name, User.role, User.team_id, User.is_active)
                            .order_by(User.email)).all()
    teams = session.execute(select(Team.name, Team.manager_id).order_by(Team.name)).all()
    tokens = session.execute(select(ApiToken.id, ApiToken.revoked_at).order_by(ApiToken.id)).all()
    return users, teams, tokens, row_count(session, AuditLog)


def errors_of(excinfo) -> list[tuple]:
    return [(e["line"], e["column"]) for e in excinfo.value.errors]


FILE = HEADER + (
    "mia@example.org,Mia Manager,manager,Engineering,mia@example.org,true\n"
    "eve@example.org,Eve Engineer,employee,Engineering,mia@example.org,\n"
    "sam@example.org,Sam Sales,team_lead,Sales,,true\n"
)


# --- create, update, unchanged -------------------------------------------


def test_a_new_organisation_is_created_with_one_audit_row_per_user_and_team(session, admin):
    report = run(session, admin, FILE)
    assert (report.created, report.updated, report.unchanged, report.deactivated, report.teams_created) == (
        3, 0, 0, 0, 2)
    assert [(r["line"], r["email"], r["action"]) for r in report.rows] == [
        (2, "mia@example.org", "create"), (3, "eve@example.org", "create"), (4, "sam@example.org", "create")]
    mia, eve = user_by(session, "mia@example.org"), user_by(session, "eve@example.org")
    engineering, sales = team_by(session, "Engineering"), team_by(session, "Sales")
    assert (mia.role, mia.team_id, eve.team_id, eve.is_active) == ("manager", engineering.id, engineering.id, True)
    assert engineering.manager_id == mia.id and sales.manager_id is None
    (created,) = audit_rows(session, entity_id=eve.id)
    assert (created.action, created.actor_id, created.entity_type) == ("user.create", admin.id, "user")
    assert created.payload == {"after": {"email": "eve@example.org", "display_name": "Eve Engineer",
                                         "role": "employee", "team_id": str(engineering.id), "is_active": True}}
    (team_row,) = audit_rows(session, entity_id=engineering.id)
    assert team_row.action == "team.create"
    assert team_row.payload == {"after": {"name": "Engineering", "manager_id": str(mia.id)}}
    (applied,) = audit_rows(session, action="people_import.apply")
    assert applied.payload["sha256"] == hashlib.sha256(FILE.encode()).hexdigest()
    assert (applied.payload["created"], applied.payload["teams_created"]) == (3, 2)
    assert row_count(session, AuditLog) == 3 + 2 + 1


def test_existing_users_are_matched_by_email_in_any_case_and_updated_with_the_changed_fields(session, admin):
    team = make_team(session, name="Engineering")
    eve = make_user(session, email="eve@example.org", display_name="Eve Old", role="employee", team=team)
    report = run(session, admin, HEADER + "EVE@Example.org,Eve New,team_lead,engineering,,true\n")
    assert (report.created, report.updated, report.teams_created) == (0, 1, 0)
    assert report.rows[0]["action"] == "update"
    session.refresh(eve)
    assert (eve.display_name, eve.role, eve.team_id) == ("Eve New", "team_lead", team.id)
    assert team_by(session, "engineering").name == "Engineering"  # found in any case, spelling kept
    (row,) = audit_rows(session, entity_id=eve.id)
    assert row.action == "user.update"
    assert row.payload == {"before": {"display_name": "Eve Old", "role": "employee"},
                           "after": {"display_name": "Eve New", "role": "team_lead"}}


def test_a_row_equal_to_the_stored_user_is_unchanged_and_writes_nothing(session, admin):
    team = make_team(session, name="Ops")
    make_user(session, email="olu@example.org", display_name="Olu", role="employee", team=team)
    report = run(session, admin, "email,display_name,role,team\nolu@example.org,Olu,employee,Ops\n")
    assert (report.unchanged, report.rows[0]["action"]) == (1, "unchanged")
    assert [r.action for r in audit_rows(session)] == ["people_import.apply"]


def test_columns_left_out_leave_their_attribute_alone(session, admin):
    team = make_team(session, name="Ops")
    olu = make_user(session, email="olu@example.org", display_name="Olu", role="employee", team=team)
    report = run(session, admin, "email,display_name,role\nolu@example.org,Olu,employee\n")
    assert report.unchanged == 1
    session.refresh(olu)
    assert olu.team_id == team.id


def test_an_empty_team_cell_takes_the_user_out_of_their_team(session, admin):
    olu = make_user(session, email="olu@example.org", display_name="Olu", team=make_team(session))
    run(session, admin, "email,display_name,role,team\nolu@example.org,Olu,employee,\n")
    session.refresh(olu)
    assert olu.team_id is None


def test_importing_the_same_file_twice_changes_nothing_the_second_time(session, admin):
    run(session, admin, FILE)
    before = snapshot(session)
    report = run(session, admin, FILE)
    assert (report.created, report.updated, report.unchanged, report.teams_created) == (0, 0, 3, 0)
    users, teams, tokens, audit_count = snapshot(session)
    assert (users, teams, tokens) == before[:3]
    assert audit_count == before[3] + 1
    assert audit_rows(session)[-1].action == "people_import.apply"


def test_a_bom_crlf_quoting_and_blank_lines_are_read(session, admin):
    data = ("\ufeff" + 'email,display_name,role\r\n\r\n"q@example.org","Quinn, ""Q"" Doe",employee\r\n')
    report = run(session, admin, data)
    assert [(r["line"], r["action"]) for r in report.rows] == [(3, "create")]
    assert user_by(session, "q@example.org").display_name == 'Quinn, "Q" Doe'


# --- deactivate missing ---------------------------------------------------


def test_deactivate_missing_deactivates_active_users_absent_from_the_file_and_revokes_their_tokens(session, admin):
    gone = make_user(session, email="gone@example.org")
    make_user(session, email="already@example.org", is_active=False)
    make_token(session, gone)
    report = run(session, admin, FILE, deactivate_missing=True)
    assert report.deactivated == 1
    assert [(r["line"], r["email"], r["action"]) for r in report.rows if r["action"] == "deactivate"] == [
        (None, "gone@example.org", "deactivate")]
    session.refresh(gone)
    assert gone.is_active is False
    (update,) = audit_rows(session, entity_id=gone.id)
    assert update.payload == {"before": {"is_active": True}, "after": {"is_active": False}}
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == gone.id))
    assert token.revoked_at == NOW
    (revoke,) = audit_rows(session, action="token.revoke")
    assert (revoke.entity_id, revoke.actor_id) == (token.id, admin.id)
    assert revoke.payload == {"before": {"revoked_at": None}, "after": {"revoked_at": NOW.isoformat()}}


def test_deactivate_missing_never_deactivates_the_importing_admin(session, admin):
    report = run(session, admin, FILE, deactivate_missing=True)
    assert report.deactivated == 0
    session.refresh(admin)
    assert admin.is_active


def test_without_deactivate_missing_absent_users_stay_active(session, admin):
    other = make_user(session)
    run(session, admin, FILE)
    session.refresh(other)
    assert other.is_active


def test_a_row_with_active_false_deactivates_and_revokes_tokens(session, admin):
    leaver = make_user(session, email="leaver@example.org", display_name="Leaver")
    make_token(session, leaver)
    report = run(session, admin, "email,display_name,role,active\nleaver@example.org,Leaver,employee,FALSE\n")
    assert report.rows[0]["action"] == "update"
    session.refresh(leaver)
    assert not leaver.is_active
    assert session.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == leaver.id)) == NOW


# --- team managers --------------------------------------------------------


def test_the_manager_may_be_a_stored_manager_not_in_the_file(session, admin):
    boss = make_user(session, email="boss@example.org", role="manager")
    team = make_team(session, name="Ops")
    run(session, admin, HEADER + "a@example.org,A,employee,Ops,boss@example.org,\n")
    session.refresh(team)
    assert team.manager_id == boss.id
    (row,) = audit_rows(session, entity_id=team.id)
    assert row.action == "team.update"
    assert row.payload == {"before": {"manager_id": None}, "after": {"manager_id": str(boss.id)}}


def test_every_row_of_a_team_names_the_same_manager(session, admin):
    make_user(session, email="m1@example.org", role="manager")
    make_user(session, email="m2@example.org", role="manager")
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, HEADER + "a@example.org,A,employee,Ops,m1@example.org,\n"
                                     "b@example.org,B,employee,ops,m2@example.org,\n"
                                     "c@example.org,C,employee,OPS,,\n")
    assert errors_of(excinfo) == [(3, "team_manager_email"), (4, "team_manager_email")]
    assert "line 2" in excinfo.value.errors[0]["msg"]


@pytest.mark.parametrize(("manager_row", "msg"), [
    ("m@example.org,M,employee,Ops,m@example.org,\n", "must have role manager or admin"),
    ("m@example.org,M,manager,Ops,m@example.org,false\n", "must be active"),
])
def test_the_manager_named_in_the_file_must_be_an_active_manager_or_admin(session, admin, manager_row, msg):
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, HEADER + manager_row)
    assert errors_of(excinfo) == [(2, "team_manager_email")]
    assert msg in excinfo.value.errors[0]["msg"]


def test_the_manager_must_exist_in_the_file_or_be_stored(session, admin):
    make_user(session, email="emp@example.org", role="employee")
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, HEADER + "a@example.org,A,employee,Ops,nobody@example.org,\n"
                                     "b@example.org,B,employee,Dev,emp@example.org,\n")
    assert errors_of(excinfo) == [(2, "team_manager_email"), (3, "team_manager_email")]
    assert "no user nobody@example.org" in excinfo.value.errors[0]["msg"]


def test_a_teams_manager_cannot_lose_the_manager_role(session, admin):
    boss = make_user(session, email="boss@example.org", display_name="Boss", role="manager")
    make_team(session, name="Ops", manager=boss)
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, "email,display_name,role\nboss@example.org,Boss,employee\n")
    assert errors_of(excinfo) == [(2, "role")]
    assert "manages 'Ops'" in excinfo.value.errors[0]["msg"]


def test_a_manager_may_be_demoted_when_the_file_gives_the_team_another(session, admin):
    boss = make_user(session, email="boss@example.org", display_name="Boss", role="manager")
    team = make_team(session, name="Ops", manager=boss)
    run(session, admin, HEADER + "boss@example.org,Boss,employee,Ops,new@example.org,\n"
                                 "new@example.org,New,manager,Ops,new@example.org,\n")
    session.refresh(team)
    assert team.manager_id == user_by(session, "new@example.org").id
    assert user_by(session, "boss@example.org").role == "employee"


# --- the last active admin --------------------------------------------------


def test_the_file_cannot_demote_or_deactivate_the_last_active_admin(session):
    only = make_user(session, email="only@example.org", display_name="Only", role="admin")
    before = snapshot(session)
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, None, "email,display_name,role,active\nonly@example.org,Only,manager,true\n")
    assert errors_of(excinfo) == [(2, "role")]
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, None, "email,display_name,role,active\nonly@example.org,Only,admin,false\n")
    assert errors_of(excinfo) == [(2, "active")]
    assert snapshot(session) == before
    session.refresh(only)
    assert only.role == "admin"


def test_an_admin_may_be_demoted_when_the_file_makes_another(session):
    make_user(session, email="old@example.org", display_name="Old", role="admin")
    run(session, None, "email,display_name,role\nold@example.org,Old,manager\nnew@example.org,New,admin\n")
    assert user_by(session, "old@example.org").role == "manager"


def test_deactivate_missing_from_the_command_line_cannot_remove_every_admin(session):
    make_user(session, email="only@example.org", role="admin")
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, None, "email,display_name,role\na@example.org,A,employee\n", deactivate_missing=True)
    assert errors_of(excinfo) == [(None, None)]


# --- every error, with its line; nothing changed ---------------------------


BAD_FILE = HEADER + (
    "ok@example.org,Ok,employee,,,\n"                       # 2: fine
    "not-an-email,Bad Email,employee,,,\n"                  # 3: email
    ",No Email,employee,,,\n"                               # 4: email required
    "role@example.org,Bad Role,boss,,,\n"                   # 5: role
    "active@example.org,Bad Active,employee,,,yes\n"        # 6: active
    "OK@example.org,Duplicate,employee,,,\n"                # 7: email duplicate of line 2
    "blank@example.org,   ,employee,,,\n"                   # 8: display_name blank
    "few@example.org,Too Few\n"                             # 9: field count
    "nul@example.org,Nul\x00Name,employee,,,\n"             # 10: display_name NUL
    "mgr@example.org,Manager Without Team,employee,,x@example.org,\n"  # 11: manager needs team
)


def test_every_bad_row_is_reported_with_its_line_and_column_and_nothing_changes(session, admin):
    make_user(session, email="ok@example.org", display_name="Before")
    before = snapshot(session)
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, BAD_FILE)
    assert errors_of(excinfo) == [
        (3, "email"), (4, "email"), (5, "role"), (6, "active"), (7, "email"), (8, "display_name"), (9, None),
        (10, "display_name"), (11, "team_manager_email")]
    msgs = [e["msg"] for e in excinfo.value.errors]
    assert "line 2" in msgs[4] and "employee, team_lead, manager, admin" in msgs[2]
    assert snapshot(session) == before


def test_a_name_with_control_characters_is_refused(session, admin):
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, "email,display_name,role\nbell@example.org,Bell\x07Ringer,employee\n")
    assert errors_of(excinfo) == [(2, "display_name")]


@pytest.mark.parametrize(("data", "expected"), [
    ("email,display_name,role,phone\n", [(1, "phone")]),
    ("email,display_name\n", [(1, "role")]),
    ("email,display_name,role,email\n", [(1, "email")]),
    ("", [(1, "email"), (1, "display_name"), (1, "role")]),
])
def test_header_errors_name_the_column(session, admin, data, expected):
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, data)
    assert errors_of(excinfo) == expected


def test_a_file_that_is_not_utf8_is_refused_with_its_line(session, admin):
    with pytest.raises(ImportInvalid) as excinfo:
        import_people(session, admin, b"email,display_name,role\na@example.org,Caf\xe9,employee\n", now=NOW)
    assert errors_of(excinfo) == [(2, None)]


def test_broken_quoting_is_reported(session, admin):
    with pytest.raises(ImportInvalid) as excinfo:
        run(session, admin, 'email,display_name,role\na@example.org,"Unclosed,employee\n')
    assert excinfo.value.errors[0]["line"] == 2


# --- dry run, who -----------------------------------------------------------


def test_a_dry_run_reports_the_same_and_changes_nothing(session, admin):
    before = snapshot(session)
    dry = run(session, admin, FILE, dry_run=True)
    assert snapshot(session) == before
    real = run(session, admin, FILE)
    assert dry.dry_run and not real.dry_run
    assert dry.model_dump(exclude={"dry_run"}) == real.model_dump(exclude={"dry_run"})


def test_a_dry_run_reports_errors_too(session, admin):
    with pytest.raises(ImportInvalid):
        run(session, admin, BAD_FILE, dry_run=True)


@pytest.mark.parametrize("role", ["employee", "team_lead", "manager"])
def test_only_admins_import(session, role):
    with pytest.raises(Forbidden):
        run(session, make_user(session, role=role), FILE)
    assert audit_rows(session) == []


def test_the_command_line_imports_without_actor(session):
    run(session, None, FILE)
    assert {r.actor_id for r in audit_rows(session)} == {None}


def test_audit_rows_carry_the_request_id(session, admin):
    session.info["request_id"] = "req-import-1"
    run(session, admin, FILE)
    assert {r.request_id for r in audit_rows(session)} == {"req-import-1"}


# --- concurrency ----------------------------------------------------------------


def test_concurrent_imports_of_one_file_serialize_and_the_later_ones_change_nothing(committed_db):
    """Four imports of the same new organisation at once, each in its own
    committing transaction: one creates, the others wait for it and find
    everything unchanged; no unique violation, one row per user and team."""
    from tests.services.test_concurrency import arrange, count, race

    ids = arrange(committed_db, lambda s: {"admin": make_user(s, role="admin").id})

    def work(session, i):
        actor = session.get(User, ids["admin"])
        return import_people(session, actor, FILE.encode(), now=NOW).created

    results = race(committed_db, 4, work)
    assert sorted(results) == [("ok", 0), ("ok", 0), ("ok", 0), ("ok", 3)]
    assert count(committed_db, select(func.count()).select_from(Team)) == 2
    assert count(committed_db, select(func.count()).where(AuditLog.action == "user.create")) == 3
    assert count(committed_db, select(func.count()).where(AuditLog.action == "people_import.apply")) == 4


def test_a_user_update_racing_an_import_waits_and_keeps_the_last_admin(committed_db):
    """An import demoting admin A (admin B stays) and a PATCH demoting B at
    the same time: they serialize on the admin-set lock, so one of them is
    refused and an active admin remains."""
    from plaudit.errors import ValidationFailed
    from plaudit.services.users import update_user
    from tests.services.test_concurrency import arrange, count, race

    ids = arrange(committed_db, lambda s: {
        "a": make_user(s, email="a@example.org", display_name="A", role="admin").id,
        "b": make_user(s, email="b@example.org", display_name="B", role="admin").id,
    })

    def work(session, i):
        if i == 0:
            return import_people(session, None, b"email,display_name,role\na@example.org,A,manager\n", now=NOW).updated
        return update_user(session, None, ids["b"], role="manager").role

    results = race(committed_db, 2, work)
    assert sorted(r[0] for r in results) == ["error", "ok"]
    assert {r[1] for r in results if r[0] == "error"} <= {ImportInvalid.code, ValidationFailed.code}
    assert count(committed_db, select(func.count()).where(User.role == "admin", User.is_active)) == 1
