"""POST /imports/people: the CSV file as the body, an ImportReport back."""

import time

from sqlalchemy import func, select

from plaudit.api.middleware import MAX_BODY_BYTES, MAX_BODY_BYTES_BY_PATH
from plaudit.models import AuditLog, Team, User
from tests.helpers import as_role, assert_problem, row_count

CSV = {"Content-Type": "text/csv"}
FILE = (
    "email,display_name,role,team,team_manager_email\n"
    "mia@example.org,Mia,manager,Engineering,mia@example.org\n"
    "eve@example.org,Eve,employee,Engineering,mia@example.org\n"
)


def post(client, headers, body: bytes | str, **params):
    return client.post("/imports/people", content=body, headers={**headers, **CSV}, params=params)


def test_an_admin_imports_and_gets_the_report(session, client):
    _, headers = as_role(session, "admin")
    response = post(client, headers, FILE, dry_run="false")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "dry_run": False, "created": 2, "updated": 0, "unchanged": 0, "deactivated": 0, "teams_created": 1,
        "rows": [{"line": 2, "email": "mia@example.org", "action": "create"},
                 {"line": 3, "email": "eve@example.org", "action": "create"}],
    }
    assert session.scalar(select(func.count()).select_from(User).where(User.email.like("%@example.org"))) >= 2


def test_a_dry_run_changes_nothing(session, client):
    _, headers = as_role(session, "admin")
    audit_before = row_count(session, AuditLog)
    response = post(client, headers, FILE, dry_run="true")
    assert response.status_code == 200 and response.json()["dry_run"] is True
    assert response.json()["created"] == 2
    assert row_count(session, Team) == 0 and row_count(session, AuditLog) == audit_before


def test_bad_rows_are_422_import_invalid_with_line_column_and_msg(session, client):
    _, headers = as_role(session, "admin")
    response = post(client, headers, "email,display_name,role\nx,Bad,employee\ny@example.org,Y,chief\n")
    body = assert_problem(response, 422, "import_invalid")
    assert [(e["line"], e["column"]) for e in body["errors"]] == [(2, "email"), (3, "role")]
    assert all(set(e) == {"line", "column", "msg"} for e in body["errors"])
    assert row_count(session, AuditLog) == 0


def test_only_admins_import(session, client):
    _, headers = as_role(session, "manager")
    assert_problem(post(client, headers, FILE), 403, "forbidden")
    assert_problem(post(client, headers, b"\xff\xfe not even csv"), 403, "forbidden")
    assert row_count(session, AuditLog) == 0


def test_an_import_needs_a_token(client):
    assert_problem(post(client, {}, FILE), 401, "unauthenticated")


def test_audit_rows_carry_the_request_id(session, client):
    _, headers = as_role(session, "admin")
    assert post(client, {**headers, "X-Request-ID": "hr-sync-7"}, FILE).status_code == 200
    assert set(session.scalars(select(AuditLog.request_id))) == {"hr-sync-7"}


def test_fifty_thousand_rows_in_one_request(session, client):
    """Over the 1 MiB body limit of other paths: the import path takes 32 MiB."""
    _, headers = as_role(session, "admin")
    lines = ["email,display_name,role,team,team_manager_email"]
    for t in range(200):
        lines.append(f"boss{t}@big.example,Boss {t},manager,Team {t},boss{t}@big.example")
        lines += [f"p{t}.{i}@big.example,Person {t} {i},employee,Team {t},boss{t}@big.example" for i in range(249)]
    body = ("\n".join(lines) + "\n").encode()
    assert len(lines) == 50_001 and len(body) > MAX_BODY_BYTES
    started = time.perf_counter()
    response = post(client, headers, body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert (report["created"], report["teams_created"], len(report["rows"])) == (50_000, 200, 50_000)
    assert row_count(session, AuditLog) == 50_000 + 200 + 1
    assert elapsed < 30, elapsed  # seconds, generous for a slow CI machine: it takes ~2 s


def test_a_body_over_the_import_limit_is_refused_before_it_is_read(session, client):
    _, headers = as_role(session, "admin")
    limit = MAX_BODY_BYTES_BY_PATH["/imports/people"]
    response = client.post("/imports/people", content=b"x",
                           headers={**headers, **CSV, "Content-Length": str(limit + 1)})
    assert_problem(response, 422, "validation_error")


def test_a_json_body_is_a_validation_error_and_any_other_type_is_read_as_csv(session, client):
    _, headers = as_role(session, "admin")
    response = client.post("/imports/people", content=FILE, headers={**headers, "Content-Type": "application/json"})
    assert_problem(response, 422, "validation_error")
    response = client.post("/imports/people", content=FILE,
                           headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and response.json()["created"] == 2
