"""HTTP: finalize, preview, results (JSON and CSV), award history; and the
`plaudit results export` command."""

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from plaudit import cli
from plaudit.models import AuditLog, CycleResult
from plaudit.services.results_digest import inputs_digest
from tests.factories import (
    auth,
    make_approval,
    make_criterion,
    make_cycle,
    make_nomination,
    make_rated_nomination,
    make_team,
    make_token,
    make_user,
)
from tests.helpers import assert_problem, audit_count


@pytest.fixture
def org(session):
    """An admin, a manager of team Red, an employee in Red, and a closed cycle
    (award_slots 1) with two criteria: Ada (Red) scores 4.3, Ben (no team) 3.0.

    Ada: approvals (Q5, S4) and (Q4, S3) -> Q 4.5, S 3.5 -> 0.6*4.5 + 0.4*3.5 = 2.7 + 1.4 = 4.1
         plus a second nomination (Q5, S5)            -> Q (4.5+5)/2 = 4.75, S (3.5+5)/2 = 4.25
         score 0.6*4.75 + 0.4*4.25 = 2.85 + 1.70 = 4.55
    Ben: (Q3, S3) -> 3.0
    Spread (admins): Ada's approval scores 0.6*5+0.4*4 = 4.6, 0.6*4+0.4*3 = 3.6, 0.6*5+0.4*5 = 5.0
    -> 5.0 - 3.6 = 1.4; Ben has one approval -> 0. Tie break: Ben is below Ada by score.
    """
    admin = make_user(session, role="admin", display_name="Admin")
    manager = make_user(session, role="manager")
    red = make_team(session, name="Red", manager=manager)
    employee = make_user(session, team=red)
    ada = make_user(session, display_name="Ada", email="ada@example.org", team=red)
    ben = make_user(session, display_name="Ben", email="ben@example.org")
    cycle = make_cycle(session, nominations="after", approvals="after", award_slots=1, name="Spring awards")
    q = make_criterion(session, cycle, name="Quality", weight="0.6000", position=0)
    s = make_criterion(session, cycle, name="Spirit", weight="0.4000", position=1)
    make_rated_nomination(session, cycle, ada, [{q: 5, s: 4}, {q: 4, s: 3}])
    make_rated_nomination(session, cycle, ada, [{q: 5, s: 5}])
    make_rated_nomination(session, cycle, ben, [{q: 3, s: 3}])
    make_nomination(session, cycle, employee, ben)  # pending: does not count, reported as pending_nominations
    make_nomination(session, cycle, manager, ada, status="rejected")
    tokens = {name: auth(make_token(session, u)) for name, u in
              [("admin", admin), ("manager", manager), ("employee", employee), ("ada", ada), ("ben", ben)]}
    return dict(admin=admin, manager=manager, employee=employee, ada=ada, ben=ben, red=red, cycle=cycle,
                q=q, s=s, tokens=tokens)


def test_finalize_returns_full_results_and_writes_one_audit_row_with_request_id(client, session, org):
    cycle, tokens = org["cycle"], org["tokens"]
    response = client.post(f"/cycles/{cycle.id}/finalize", headers={**tokens["admin"], "X-Request-ID": "fin-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "cycle_id": str(cycle.id),
        "cycle_name": "Spring awards",
        "finalized_at": "2030-01-10T12:00:00Z",
        "award_slots": 1,
        "pending_nominations": 1,
        "inputs_digest": inputs_digest(session, cycle.id),
        "items": [
            {
                "rank": 1,
                "nominee_id": str(org["ada"].id),
                "nominee_name": "Ada",
                "team_id": str(org["red"].id),
                "score": "4.550000",
                "approved_nominations": 2,
                "is_winner": True,
                "spread": "1.400000",
                "tie_break": None,
                "criteria": [
                    {"criterion_id": str(org["q"].id), "name": "Quality", "weight": "0.6000", "mean": "4.750000"},
                    {"criterion_id": str(org["s"].id), "name": "Spirit", "weight": "0.4000", "mean": "4.250000"},
                ],
            },
            {
                "rank": 2,
                "nominee_id": str(org["ben"].id),
                "nominee_name": "Ben",
                "team_id": None,
                "score": "3.000000",
                "approved_nominations": 1,
                "is_winner": False,
                "spread": "0.000000",
                "tie_break": "score",
                "criteria": [
                    {"criterion_id": str(org["q"].id), "name": "Quality", "weight": "0.6000", "mean": "3.000000"},
                    {"criterion_id": str(org["s"].id), "name": "Spirit", "weight": "0.4000", "mean": "3.000000"},
                ],
            },
        ],
    }
    rows = session.scalars(select(AuditLog).where(AuditLog.entity_id == cycle.id)).all()
    assert [(r.action, r.request_id, r.actor_id) for r in rows] == [("cycle.finalize", "fin-1", org["admin"].id)]


def test_finalize_twice_returns_the_identical_body_and_writes_nothing(client, session, org, clock):
    cycle, tokens = org["cycle"], org["tokens"]
    first = client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    clock.advance(timedelta(hours=5))
    second = client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    assert second.status_code == 200
    assert second.content == first.content
    assert audit_count(session, entity_id=cycle.id) == 1
    count = select(func.count()).select_from(CycleResult).where(CycleResult.cycle_id == cycle.id)
    assert session.scalar(count) == 2


def test_finalize_by_a_non_admin_is_forbidden(client, session, org):
    cycle = org["cycle"]
    for who in ("manager", "employee"):
        assert_problem(client.post(f"/cycles/{cycle.id}/finalize", headers=org["tokens"][who]), 403, "forbidden")
    assert audit_count(session, entity_id=cycle.id) == 0


def test_finalize_needs_a_token(client, org):
    response = client.post(f"/cycles/{org['cycle'].id}/finalize")
    assert_problem(response, 401, "unauthenticated")


def test_finalize_while_approvals_are_open_is_409(client, session, org):
    cycle = make_cycle(session, nominations="after", approvals="open")
    assert_problem(client.post(f"/cycles/{cycle.id}/finalize", headers=org["tokens"]["admin"]), 409, "approvals_open")
    assert audit_count(session, entity_id=cycle.id) == 0


def test_finalize_a_draft_is_cycle_state_and_unknown_is_not_found(client, session, org):
    draft = make_cycle(session, status="draft", nominations="after", approvals="after")
    headers = org["tokens"]["admin"]
    assert_problem(client.post(f"/cycles/{draft.id}/finalize", headers=headers), 409, "cycle_state")
    assert_problem(client.post(f"/cycles/{uuid.uuid4()}/finalize", headers=headers), 404, "not_found")
    assert_problem(client.post("/cycles/not-a-uuid/finalize", headers=headers), 422, "validation_error")


def test_preview_is_live_for_admins_and_stores_nothing(client, session, org):
    cycle = org["cycle"]
    response = client.get(f"/cycles/{cycle.id}/preview", headers=org["tokens"]["admin"])
    assert response.status_code == 200
    body = response.json()
    assert body["finalized_at"] is None
    assert [(i["nominee_name"], i["rank"], i["score"]) for i in body["items"]] == [
        ("Ada", 1, "4.550000"),
        ("Ben", 2, "3.000000"),
    ]
    assert audit_count(session, entity_id=cycle.id) == 0
    assert_problem(client.get(f"/cycles/{cycle.id}/preview", headers=org["tokens"]["manager"]), 403, "forbidden")
    client.post(f"/cycles/{cycle.id}/finalize", headers=org["tokens"]["admin"])
    assert_problem(client.get(f"/cycles/{cycle.id}/preview", headers=org["tokens"]["admin"]), 409, "cycle_state")


def test_results_before_finalization_are_not_finalized(client, org):
    cycle = org["cycle"]
    assert_problem(client.get(f"/cycles/{cycle.id}/results", headers=org["tokens"]["employee"]), 409, "not_finalized")


def test_results_of_a_draft_are_not_found_for_non_admins(client, session, org):
    draft = make_cycle(session, status="draft")
    assert_problem(client.get(f"/cycles/{draft.id}/results", headers=org["tokens"]["employee"]), 404, "not_found")
    assert_problem(client.get(f"/cycles/{draft.id}/results", headers=org["tokens"]["admin"]), 409, "not_finalized")


def test_non_admins_see_winners_only_admins_everything(client, org):
    cycle, tokens = org["cycle"], org["tokens"]
    full = client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"]).json()
    employee_view = client.get(f"/cycles/{cycle.id}/results", headers=tokens["employee"]).json()
    assert [i["nominee_name"] for i in employee_view["items"]] == ["Ada"]
    assert employee_view["items"][0] == {**full["items"][0], "spread": None, "tie_break": None}
    assert full["items"][0]["spread"] == "1.400000"
    assert client.get(f"/cycles/{cycle.id}/results", headers=tokens["admin"]).json() == full


def test_results_filter_by_team(client, org):
    cycle, tokens = org["cycle"], org["tokens"]
    client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    red = client.get(f"/cycles/{cycle.id}/results", params={"team_id": str(org["red"].id)}, headers=tokens["admin"])
    assert [i["nominee_name"] for i in red.json()["items"]] == ["Ada"]
    other = client.get(f"/cycles/{cycle.id}/results", params={"team_id": str(uuid.uuid4())}, headers=tokens["admin"])
    assert other.json()["items"] == []
    bad = client.get(f"/cycles/{cycle.id}/results", params={"team_id": "red"}, headers=tokens["admin"])
    assert_problem(bad, 422, "validation_error")


def test_results_csv_for_admins(client, org):
    cycle, tokens = org["cycle"], org["tokens"]
    client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    response = client.get(f"/cycles/{cycle.id}/results", params={"format": "csv"}, headers=tokens["admin"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["rank", "nominee_id", "nominee_name", "nominee_email", "team_name", "score", "approved_nominations",
         "is_winner", "Quality", "Spirit"],
        ["1", str(org["ada"].id), "Ada", "ada@example.org", "Red", "4.550000", "2", "true", "4.750000", "4.250000"],
        ["2", str(org["ben"].id), "Ben", "ben@example.org", "", "3.000000", "1", "false", "3.000000", "3.000000"],
    ]
    only_red = client.get(f"/cycles/{cycle.id}/results", params={"format": "csv", "team_id": str(org["red"].id)},
                          headers=tokens["admin"])
    assert len(list(csv.reader(io.StringIO(only_red.text)))) == 2
    by_header = client.get(f"/cycles/{cycle.id}/results", headers={**tokens["admin"], "Accept": "text/csv"})
    assert by_header.headers["content-type"].startswith("text/csv") and by_header.text == response.text
    explicit = client.get(f"/cycles/{cycle.id}/results", params={"format": "json"},
                          headers={**tokens["admin"], "Accept": "text/csv"})
    assert explicit.json()["cycle_name"] == "Spring awards"


def test_results_csv_escapes_formula_text_over_http(client, session, org):
    cycle, tokens = org["cycle"], org["tokens"]
    org["ada"].display_name = '=HYPERLINK("http://evil.example","Ada")'
    org["q"].name = "@Quality"
    session.flush()
    client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    rows = list(csv.reader(io.StringIO(client.get(f"/cycles/{cycle.id}/results",
                                                   headers={**tokens["admin"], "Accept": "text/csv"}).text)))
    assert rows[0][-2:] == ["'@Quality", "Spirit"]
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example","Ada")'


def test_results_csv_is_forbidden_to_non_admins_and_needs_finalization(client, org):
    cycle, tokens = org["cycle"], org["tokens"]
    assert_problem(client.get(f"/cycles/{cycle.id}/results", params={"format": "csv"}, headers=tokens["admin"]),
                   409, "not_finalized")
    client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    for who in ("employee", "manager", "ada"):
        response = client.get(f"/cycles/{cycle.id}/results", params={"format": "csv"}, headers=tokens[who])
        assert_problem(response, 403, "forbidden")
        response = client.get(f"/cycles/{cycle.id}/results", headers={**tokens[who], "Accept": "text/csv"})
        assert_problem(response, 403, "forbidden")
    assert_problem(client.get(f"/cycles/{cycle.id}/results", params={"format": "xml"}, headers=tokens["admin"]),
                   422, "validation_error")


def test_awards_visibility_and_paging(client, session, org):
    cycle, tokens = org["cycle"], org["tokens"]
    client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    ada = org["ada"]
    for who in ("ada", "admin", "manager"):
        response = client.get(f"/users/{ada.id}/awards", headers=tokens[who])
        assert response.status_code == 200, (who, response.text)
        assert response.json() == {
            "items": [{
                "cycle_id": str(cycle.id),
                "cycle_name": "Spring awards",
                "finalized_at": "2030-01-10T12:00:00Z",
                "rank": 1,
                "score": "4.550000",
                "approved_nominations": 2,
                "is_winner": True,
            }],
            "next_cursor": None,
        }
    for who in ("employee", "ben"):
        assert_problem(client.get(f"/users/{ada.id}/awards", headers=tokens[who]), 404, "not_found")
    assert_problem(client.get(f"/users/{uuid.uuid4()}/awards", headers=tokens["admin"]), 404, "not_found")
    assert_problem(client.get(f"/users/{ada.id}/awards", params={"limit": 0}, headers=tokens["ada"]),
                   422, "validation_error")
    assert_problem(client.get(f"/users/{ada.id}/awards", params={"cursor": "%%%"}, headers=tokens["ada"]),
                   422, "validation_error")


def test_awards_page_newest_first(client, session, org, clock):
    tokens, ben = org["tokens"], org["ben"]
    client.post(f"/cycles/{org['cycle'].id}/finalize", headers=tokens["admin"])
    later = make_cycle(session, nominations="after", approvals="after", name="Autumn awards")
    k = make_criterion(session, later, weight="1")
    make_rated_nomination(session, later, ben, [{k: 5}])
    clock.advance(timedelta(days=1))
    assert client.post(f"/cycles/{later.id}/finalize", headers=tokens["admin"]).status_code == 200
    first = client.get(f"/users/{ben.id}/awards", params={"limit": 1}, headers=tokens["ben"]).json()
    assert [a["cycle_name"] for a in first["items"]] == ["Autumn awards"]
    assert first["items"][0]["is_winner"] is True
    second = client.get(f"/users/{ben.id}/awards", params={"limit": 1, "cursor": first["next_cursor"]},
                        headers=tokens["ben"]).json()
    assert [(a["cycle_name"], a["is_winner"]) for a in second["items"]] == [("Spring awards", False)]
    assert second["next_cursor"] is None


# --- command line ----------------------------------------------------------------


@pytest.fixture
def cli_session(session, monkeypatch):
    """Run the CLI's `transaction()` on the test's own (rolled-back) session."""
    from contextlib import contextmanager

    import plaudit.db.session as db_session

    @contextmanager
    def transaction(factory=None):
        with session.begin_nested():
            yield session

    monkeypatch.setattr(cli, "ensure_database", lambda: "postgresql+psycopg://unused")
    monkeypatch.setattr(db_session, "transaction", transaction)
    return session


def _arrange_cli(session, *, status):
    cycle = make_cycle(session, status=status, nominations="after", approvals="after", award_slots=1,
                       name="-Cli cycle")
    k = make_criterion(session, cycle, name="Merit", weight="1")
    team = make_team(session, name="Blue")
    winner = make_user(session, display_name="+Win", email="win@example.org", team=team)
    other = make_user(session, display_name="Other")
    for nominee, value in ((winner, 5), (other, 2)):
        n = make_nomination(session, cycle, make_user(session), nominee, status="approved")
        make_approval(session, n, make_user(session, role="admin"), ratings={k: value})
    return cycle.id, winner, team


def test_cli_export_csv_to_a_file(cli_session, clock, tmp_path):
    from plaudit.services import ranking

    cycle_id, winner, team = _arrange_cli(cli_session, status="published")
    ranking.finalize(cli_session, None, cycle_id, clock=clock)
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(cli.app, ["results", "export", str(cycle_id), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == ["rank", "nominee_id", "nominee_name", "nominee_email", "team_name", "score",
                       "approved_nominations", "is_winner", "Merit"]
    assert rows[1] == ["1", str(winner.id), "'+Win", winner.email, team.name, "5.000000", "1", "true", "5.000000"]
    assert rows[2][0] == "2" and rows[2][-2:] == ["false", "2.000000"]
    assert len(rows) == 3

    as_json = CliRunner().invoke(cli.app, ["results", "export", str(cycle_id), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert body["cycle_id"] == str(cycle_id) and [i["rank"] for i in body["items"]] == [1, 2]
    assert (body["cycle_name"], body["pending_nominations"]) == ("-Cli cycle", 0)
    assert body["inputs_digest"] == inputs_digest(cli_session, cycle_id)


def test_cli_export_of_an_unfinalized_cycle_fails_with_the_code(cli_session, tmp_path):
    cycle_id, _, _ = _arrange_cli(cli_session, status="published")
    out = tmp_path / "never.csv"
    result = CliRunner().invoke(cli.app, ["results", "export", str(cycle_id), "--out", str(out)])
    assert result.exit_code == 1
    assert "not_finalized" in result.stderr
    assert not out.exists()
    unknown = CliRunner().invoke(cli.app, ["results", "export", str(uuid.uuid4())])
    assert unknown.exit_code == 1 and "not_found" in unknown.stderr
    bad_format = CliRunner().invoke(cli.app, ["results", "export", str(cycle_id), "--format", "xml"])
    assert bad_format.exit_code == 1 and "validation_error" in bad_format.stderr


def test_cli_results_verify_of_an_unfinalized_cycle_fails_with_the_code(cli_session):
    cycle_id, _, _ = _arrange_cli(cli_session, status="published")
    result = CliRunner().invoke(cli.app, ["results", "verify", str(cycle_id)])
    assert result.exit_code == 1 and "not_finalized" in result.stderr


def test_streamed_results_body_is_the_results_schema_exactly(client, session, org):
    """The HTTP body is built by PostgreSQL row by row (flat memory); it must
    be the very document the `Results` schema describes, escapes included."""
    from plaudit.services import ranking

    cycle, tokens = org["cycle"], org["tokens"]
    org["ben"].display_name = 'Ben "the \\ Builder" Ünal'
    session.flush()
    finalized = client.post(f"/cycles/{cycle.id}/finalize", headers=tokens["admin"])
    assert finalized.status_code == 200
    assert finalized.headers["content-type"] == "application/json"
    expected = json.loads(ranking.get_results(session, None, cycle.id).model_dump_json())
    assert finalized.json() == expected
    assert client.get(f"/cycles/{cycle.id}/results", headers=tokens["admin"]).json() == expected
    winners = client.get(f"/cycles/{cycle.id}/results", headers=tokens["employee"]).json()
    assert winners == {
        **expected,
        "items": [{**i, "spread": None, "tie_break": None} for i in expected["items"] if i["is_winner"]],
    }
    assert winners == json.loads(ranking.get_results(session, org["employee"], cycle.id).model_dump_json())
    assert [i["nominee_name"] for i in expected["items"]] == ["Ada", 'Ben "the \\ Builder" Ünal']


# --- what-if ---------------------------------------------------------------------


def test_what_if_over_http(client, session, org):
    """Quality 0.6, Spirit 0.4 as stored (Ada 4.55, Ben 3.0). What-if Quality 0.1,
    Spirit 0.9: Ada 0.1*4.75 + 0.9*4.25 = 0.475 + 3.825 = 4.3, Ben 3.0 -> same order."""
    cycle, tokens, q, s = org["cycle"], org["tokens"], org["q"], org["s"]
    url = f"/cycles/{cycle.id}/preview"
    response = client.post(url, json={"weights": {str(q.id): "0.1", str(s.id): 0.9}}, headers=tokens["admin"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert [(i["nominee_name"], i["score"], i["tie_break"]) for i in body["items"]] == [
        ("Ada", "4.300000", None), ("Ben", "3.000000", "score"),
    ]
    assert (body["cycle_name"], body["finalized_at"], body["pending_nominations"]) == ("Spring awards", None, 1)
    same = client.post(url, headers=tokens["admin"]).json()
    assert [i["score"] for i in same["items"]] == ["4.550000", "3.000000"]
    assert client.post(url, json={"normalization": "zscore"}, headers=tokens["admin"]).status_code == 200
    assert audit_count(session, entity_id=cycle.id) == 0

    assert_problem(client.post(url, json={"weights": {str(q.id): "1"}}, headers=tokens["admin"]),
                   409, "weights_invalid")
    for bad in ({"weights": {str(q.id): "0", str(s.id): "1"}}, {"weights": {str(q.id): "0.12345"}},
                {"normalization": "minmax"}, {"weights": {"not-a-uuid": "1"}}, {"score": "5"}):
        assert_problem(client.post(url, json=bad, headers=tokens["admin"]), 422, "validation_error")
    assert_problem(client.post(url, json={"normalization": "x"}, headers=tokens["manager"]), 403, "forbidden")
    assert_problem(client.post(f"/cycles/{uuid.uuid4()}/preview", json={}, headers=tokens["admin"]),
                   404, "not_found")
