"""Scoring, ranking, preview, finalization, results, award history, CSV export.

Every expected number below is computed by hand in the test's docstring.
Arrangement goes straight to the tables (factories); a nomination counts
when its status is `approved`, which the tests set themselves.
"""

import csv
import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from plaudit.errors import ApprovalsOpen, CycleState, Forbidden, NotFinalized, NotFound, ValidationFailed
from plaudit.models import CycleResult
from plaudit.services import ranking, scoring
from tests.conftest import NOW
from tests.factories import (
    make_approval,
    make_criterion,
    make_cycle,
    make_rated_nomination,
    make_team,
    make_user,
)
from tests.helpers import audit_rows

# --- arrangement helpers -------------------------------------------------------


def closed_cycle(session, **fields):
    """A published cycle whose nomination and approval windows have both closed."""
    return make_cycle(session, nominations="after", approvals="after", **fields)


def person(session, name, **kw):
    return make_user(session, display_name=name, **kw)


def table(results):
    """(name, rank, score, approved_nominations, is_winner) per item, in order."""
    return [(i.nominee_name, i.rank, str(i.score), i.approved_nominations, i.is_winner) for i in results.items]


def breakdown(item):
    return [(c.name, f"{c.weight:.4f}", f"{c.mean:.6f}") for c in item.criteria]


def result_count(session, cycle):
    return session.scalar(select(func.count()).select_from(CycleResult).where(CycleResult.cycle_id == cycle.id))


@pytest.fixture
def admin(session):
    return make_user(session, role="admin", display_name="Admin")


# --- scoring -------------------------------------------------------------------


@pytest.fixture
def scored(session):
    """Two criteria, Impact 0.6000 (position 0) and Teamwork 0.4000 (position 1),
    scale 1..5, award_slots 2. (Teamwork is created first: order is by position.)

    Alice, two approved nominations:
      n1 approvals (I5, T3) and (I4, T4) -> mean(n1, I) = 4.5, mean(n1, T) = 3.5
      n2 approval  (I3, T5)              -> mean(n2, I) = 3,   mean(n2, T) = 5
      criterion_mean I = (4.5 + 3) / 2 = 3.75, T = (3.5 + 5) / 2 = 4.25
      score = 0.6 * 3.75 + 0.4 * 4.25 = 2.25 + 1.70 = 3.95
    Bob, one nomination, three approvers:
      I: 4, 4, 5 -> 13/3 = 4.3333333... -> "4.333333"; T: 3, 3, 3 -> 3
      score = 0.6 * 13/3 + 0.4 * 3 = 2.6 + 1.2 = 3.8
    Cara, one nomination: (I5, T5) -> 5.0
    Ranking: Cara 1 (5.0), Alice 2 (3.95), Bob 3 (3.8); slots 2 -> Cara, Alice win.
    """
    cycle = closed_cycle(session, award_slots=2)
    teamwork = make_criterion(session, cycle, name="Teamwork", weight="0.4000", position=1)
    impact = make_criterion(session, cycle, name="Impact", weight="0.6000", position=0)
    alice, bob, cara = person(session, "Alice"), person(session, "Bob"), person(session, "Cara")
    make_rated_nomination(session, cycle, alice, [{impact: 5, teamwork: 3}, {impact: 4, teamwork: 4}])
    make_rated_nomination(session, cycle, alice, [{impact: 3, teamwork: 5}])
    make_rated_nomination(
        session, cycle, bob, [{impact: 4, teamwork: 3}, {impact: 4, teamwork: 3}, {impact: 5, teamwork: 3}]
    )
    cara_nomination = make_rated_nomination(session, cycle, cara, [{impact: 5, teamwork: 5}])
    return cycle, impact, teamwork, alice, bob, cara, cara_nomination


def test_score_is_weighted_mean_of_criterion_means_over_approved_nominations(session, admin, clock, scored):
    cycle, impact, teamwork, alice, bob, cara, _ = scored
    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert table(results) == [
        ("Cara", 1, "5.000000", 1, True),
        ("Alice", 2, "3.950000", 2, True),
        ("Bob", 3, "3.800000", 1, False),
    ]
    by_name = {i.nominee_name: i for i in results.items}
    assert breakdown(by_name["Alice"]) == [("Impact", "0.6000", "3.750000"), ("Teamwork", "0.4000", "4.250000")]
    assert breakdown(by_name["Bob"]) == [("Impact", "0.6000", "4.333333"), ("Teamwork", "0.4000", "3.000000")]
    assert [c.criterion_id for c in by_name["Bob"].criteria] == [impact.id, teamwork.id]
    assert results.award_slots == 2 and results.finalized_at is None and results.cycle_id == cycle.id


def test_only_approved_nominations_and_approve_ratings_count(session, admin, clock, scored):
    """Pending, rejected and withdrawn nominations, even with top ratings, add
    nothing; Dan, who has only those, is not ranked. A (malformed) reject
    approval carrying ratings on Cara's approved nomination is ignored too."""
    cycle, impact, teamwork, alice, bob, cara, cara_nomination = scored
    dan = person(session, "Dan")
    for status in ("pending", "rejected", "withdrawn"):
        make_rated_nomination(session, cycle, dan, [{impact: 5, teamwork: 5}], status=status)
        make_rated_nomination(session, cycle, alice, [{impact: 5, teamwork: 5}], status=status)
    make_approval(session, cara_nomination, make_user(session, role="admin"), decision="reject",
                  ratings={impact: 1, teamwork: 1})
    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert table(results) == [
        ("Cara", 1, "5.000000", 1, True),
        ("Alice", 2, "3.950000", 2, True),
        ("Bob", 3, "3.800000", 1, False),
    ]


def test_score_rounds_half_up_at_the_seventh_place(session, admin, clock):
    """Weights A 0.3333, B 0.3333, C 0.3334; one nominee, two approved nominations.

    n1: four approvals, A = 1, 1, 1, 2 -> mean(n1, A) = 5/4 = 1.25; B, C all 1
    n2: one approval,   A = 1          -> mean(n2, A) = 1;         B, C = 1
    criterion_mean A = (1.25 + 1) / 2 = 1.125; B = C = 1
    score = 0.3333 * 1.125 + 0.3333 + 0.3334 = 0.3749625 + 0.6667 = 1.0416625
    Half-up at 6 places -> 1.041663 (half-even or truncation would give 1.041662).
    """
    cycle = closed_cycle(session)
    a = make_criterion(session, cycle, name="A", weight="0.3333", position=0)
    b = make_criterion(session, cycle, name="B", weight="0.3333", position=1)
    c = make_criterion(session, cycle, name="C", weight="0.3334", position=2)
    nominee = person(session, "Nina")
    make_rated_nomination(session, cycle, nominee, [{a: 1, b: 1, c: 1}] * 3 + [{a: 2, b: 1, c: 1}])
    make_rated_nomination(session, cycle, nominee, [{a: 1, b: 1, c: 1}])
    (item,) = ranking.preview(session, admin, cycle.id, clock=clock).items
    assert item.score == Decimal("1.041663")
    assert breakdown(item) == [("A", "0.3333", "1.125000"), ("B", "0.3333", "1.000000"), ("C", "0.3334", "1.000000")]


def test_score_is_exact_when_means_repeat_and_the_sum_lands_on_a_half(session, admin, clock):
    """Weights A 0.3333, B 0.3333, C 0.3334; one nominee, two approved nominations.

    n1: three approvals, A = 1, 1, 2    -> mean(n1, A) = 4/3 = 1.3333...
    n2: four approvals,  A = 1, 1, 1, 2 -> mean(n2, A) = 5/4 = 1.25
    B and C are 1 everywhere.
    criterion_mean A = (4/3 + 5/4) / 2 = 31/24 = 1.291666... -> "1.291667"
    score = 0.3333 * 31/24 + 0.3333 + 0.3334
          = 1111 * 31 / 80000 + 0.6667 = 34441/80000 + 0.6667
          = 0.4305125 + 0.6667 = 1.0972125 exactly -> half-up 1.097213.
    Averaging the truncated means (avg() gives 1.3333333333333333, so the
    mean is 1.29166666666666665 and 0.3333 x that is 0.43051249999999999...)
    would land just below the half and round to 1.097212.
    """
    cycle = closed_cycle(session)
    a = make_criterion(session, cycle, name="A", weight="0.3333", position=0)
    b = make_criterion(session, cycle, name="B", weight="0.3333", position=1)
    c = make_criterion(session, cycle, name="C", weight="0.3334", position=2)
    nominee = person(session, "Nina")
    make_rated_nomination(session, cycle, nominee, [{a: 1, b: 1, c: 1}, {a: 1, b: 1, c: 1}, {a: 2, b: 1, c: 1}])
    make_rated_nomination(session, cycle, nominee, [{a: 1, b: 1, c: 1}] * 3 + [{a: 2, b: 1, c: 1}])
    (item,) = ranking.preview(session, admin, cycle.id, clock=clock).items
    assert item.score == Decimal("1.097213")
    assert breakdown(item)[0] == ("A", "0.3333", "1.291667")


def test_equal_scores_reached_through_different_means_share_a_rank(session, admin, clock):
    """One criterion, weight 1. Both nominees have two approved nominations.

    Bea: n1 one approval (2) -> 2; n2 three approvals (2, 3, 3) -> 8/3;
         mean (2 + 8/3) / 2 = 7/3
    Abe: n1 and n2 each three approvals (2, 2, 3) -> 7/3; mean 7/3
    Both 2.333333 with 2 nominations: rank 1 together, listed by name (Abe, Bea).
    (Unrounded avg() results differ in their last digits: 2.3333333333333334
    against 2.3333333333333333, which would put Bea alone first.)
    """
    cycle = closed_cycle(session, award_slots=1)
    k = make_criterion(session, cycle, name="Only", weight="1")
    bea, abe = person(session, "Bea"), person(session, "Abe")
    make_rated_nomination(session, cycle, bea, [{k: 2}])
    make_rated_nomination(session, cycle, bea, [{k: 2}, {k: 3}, {k: 3}])
    make_rated_nomination(session, cycle, abe, [{k: 2}, {k: 2}, {k: 3}])
    make_rated_nomination(session, cycle, abe, [{k: 2}, {k: 2}, {k: 3}])
    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert table(results) == [("Abe", 1, "2.333333", 2, True), ("Bea", 1, "2.333333", 2, True)]


def test_competition_rank_breaks_ties_by_nominations_and_a_boundary_tie_adds_winners(session, admin, clock):
    """One criterion, weight 1, award_slots 3.

    Uma 5 (1 nomination)              -> rank 1
    Vic 4 and 4 (2 nominations)       -> 4.0, more nominations -> rank 2
    Zed 4 (1), Amy 4 (1)              -> equal on both keys -> rank 3, 3 (Amy first by name)
    Lou 3 (1)                         -> rank 5 ("1, 2, 3, 3, 5")
    Slots 3: ranks 1, 2, 3, 3 all win -> four winners; Lou does not.
    """
    cycle = closed_cycle(session, award_slots=3)
    k = make_criterion(session, cycle, name="Only", weight="1")
    uma, vic, zed, amy, lou = (person(session, n) for n in ("Uma", "Vic", "Zed", "Amy", "Lou"))
    make_rated_nomination(session, cycle, uma, [{k: 5}])
    make_rated_nomination(session, cycle, vic, [{k: 4}])
    make_rated_nomination(session, cycle, vic, [{k: 4}])
    make_rated_nomination(session, cycle, zed, [{k: 4}])
    make_rated_nomination(session, cycle, amy, [{k: 4}])
    make_rated_nomination(session, cycle, lou, [{k: 3}])
    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert table(results) == [
        ("Uma", 1, "5.000000", 1, True),
        ("Vic", 2, "4.000000", 2, True),
        ("Amy", 3, "4.000000", 1, True),
        ("Zed", 3, "4.000000", 1, True),
        ("Lou", 5, "3.000000", 1, False),
    ]


def test_same_name_in_a_shared_rank_is_ordered_by_id(session, admin, clock):
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, name="Only", weight="1")
    twins = [person(session, "Sam"), person(session, "Sam")]
    for twin in twins:
        make_rated_nomination(session, cycle, twin, [{k: 4}])
    items = ranking.preview(session, admin, cycle.id, clock=clock).items
    assert [i.nominee_id for i in items] == sorted(t.id for t in twins)
    assert [i.rank for i in items] == [1, 1]


def test_ranking_query_is_one_select_with_team_and_criteria(session, clock):
    """The query itself: current team, criteria as fixed-point strings."""
    team = make_team(session)
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, name="Only", weight="1")
    nominee = person(session, "Tia", team=team)
    make_rated_nomination(session, cycle, nominee, [{k: 3}, {k: 4}])
    query = scoring.ranking_query(scoring.scoring_of(session, cycle))
    (row,) = session.execute(query).mappings().all()
    assert row["nominee_id"] == nominee.id and row["team_id"] == team.id and row["rank"] == 1
    assert row["score"] == Decimal("3.500000") and row["is_winner"] is True
    assert (row["spread"], row["tie_break"]) == (Decimal("1.000000"), None)  # approval scores 3 and 4
    assert row["criteria"] == [{"criterion_id": str(k.id), "name": "Only", "weight": "1.0000", "mean": "3.500000"}]



def test_breakdown_keeps_names_that_json_must_escape(session, admin, clock):
    """The breakdown is stored as JSON text put together from bound parts
    (`scoring.breakdown_parts`): a criterion named with quotes, a backslash
    and non-ASCII letters comes back exactly, from the stored rows and in the
    streamed body, and the text is valid JSON."""
    import json

    cycle = closed_cycle(session)
    odd = 'Say "hi" \\ naïve 東京 </script>'
    k1 = make_criterion(session, cycle, name=odd, weight="0.5", position=1)
    k2 = make_criterion(session, cycle, name="Plain", weight="0.5", position=2)
    make_rated_nomination(session, cycle, person(session, "Uma"), [{k1: 2, k2: 5}])
    results = ranking.finalize(session, admin, cycle.id, clock=clock)
    assert breakdown(results.items[0]) == [(odd, "0.5000", "2.000000"), ("Plain", "0.5000", "5.000000")]
    body = json.loads("".join(ranking.results_chunks(session, cycle)))
    assert [(c["name"], c["mean"]) for c in body["items"][0]["criteria"]] == [(odd, "2.000000"), ("Plain", "5.000000")]


# --- preview -------------------------------------------------------------------


def test_preview_is_for_admins_only(session, clock, scored):
    cycle = scored[0]
    manager = make_user(session, role="manager")
    with pytest.raises(Forbidden):
        ranking.preview(session, manager, cycle.id, clock=clock)


def test_preview_needs_a_published_cycle(session, admin, clock):
    for status in ("draft", "finalized", "archived"):
        cycle = closed_cycle(session, status=status)
        with pytest.raises(CycleState):
            ranking.preview(session, admin, cycle.id, clock=clock)
    with pytest.raises(NotFound):
        ranking.preview(session, admin, uuid.uuid4(), clock=clock)


def test_preview_stores_nothing_and_works_while_approvals_are_open(session, admin, clock):
    cycle = make_cycle(session)  # both windows open
    k = make_criterion(session, cycle, weight="1")
    make_rated_nomination(session, cycle, person(session, "Ola"), [{k: 4}])
    before = len(audit_rows(session))
    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert table(results) == [("Ola", 1, "4.000000", 1, True)]
    assert result_count(session, cycle) == 0
    assert len(audit_rows(session)) == before
    assert cycle.status == "published"


# --- finalize ------------------------------------------------------------------


def test_finalize_writes_the_ranking_marks_the_cycle_and_audits_once(session, admin, clock, scored):
    cycle = scored[0]
    preview = ranking.preview(session, admin, cycle.id, clock=clock)
    results = ranking.finalize(session, admin, cycle.id, clock=clock)

    assert results.finalized_at == clock.now()
    assert results.items == preview.items
    assert cycle.status == "finalized" and cycle.finalized_at == clock.now()
    assert result_count(session, cycle) == 3
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.action == "cycle.finalize" and row.entity_type == "cycle" and row.actor_id == admin.id
    assert row.payload == {
        "before": {"status": "published", "finalized_at": None, "inputs_digest": None},
        "after": {"status": "finalized", "finalized_at": clock.now().isoformat(), "inputs_digest": cycle.inputs_digest},
        "ranked": 3,
        "winners": 2,
    }


def test_finalize_is_idempotent_returning_the_same_body_and_writing_nothing(session, admin, clock, scored):
    cycle = scored[0]
    first = ranking.finalize(session, admin, cycle.id, clock=clock)
    audit_before = len(audit_rows(session))
    clock.advance(timedelta(days=3))
    second = ranking.finalize(session, admin, cycle.id, clock=clock)
    assert second.model_dump_json() == first.model_dump_json()
    assert result_count(session, cycle) == 3
    assert len(audit_rows(session)) == audit_before
    assert cycle.finalized_at == NOW


def test_finalize_on_an_archived_cycle_returns_its_stored_results(session, admin, clock, scored):
    cycle = scored[0]
    first = ranking.finalize(session, admin, cycle.id, clock=clock)
    cycle.status, cycle.archived_at = "archived", NOW
    session.flush()
    audit_before = len(audit_rows(session))
    assert ranking.finalize(session, admin, cycle.id, clock=clock).model_dump_json() == first.model_dump_json()
    assert len(audit_rows(session)) == audit_before
    assert cycle.status == "archived"


def test_finalize_before_the_approval_window_closes_is_approvals_open(session, admin, clock):
    cycle = make_cycle(session, nominations="after", approvals="open")
    make_criterion(session, cycle, weight="1")
    clock.set(cycle.approval_closes_at - timedelta(microseconds=1))
    with pytest.raises(ApprovalsOpen):
        ranking.finalize(session, admin, cycle.id, clock=clock)
    assert cycle.status == "published" and result_count(session, cycle) == 0
    assert audit_rows(session, entity_id=cycle.id) == []


def test_finalize_exactly_when_the_approval_window_closes_is_allowed(session, admin, clock):
    cycle = make_cycle(session, nominations="after", approvals="open")
    k = make_criterion(session, cycle, weight="1")
    make_rated_nomination(session, cycle, person(session, "Pia"), [{k: 5}])
    clock.set(cycle.approval_closes_at)
    results = ranking.finalize(session, admin, cycle.id, clock=clock)
    assert results.finalized_at == cycle.approval_closes_at
    assert table(results) == [("Pia", 1, "5.000000", 1, True)]


def test_finalize_a_draft_is_cycle_state(session, admin, clock):
    cycle = closed_cycle(session, status="draft")
    with pytest.raises(CycleState):
        ranking.finalize(session, admin, cycle.id, clock=clock)
    assert cycle.status == "draft" and audit_rows(session, entity_id=cycle.id) == []


def test_finalize_is_for_admins_only_checked_before_the_lookup(session, clock, scored):
    cycle = scored[0]
    manager = make_user(session, role="manager")
    with pytest.raises(Forbidden):
        ranking.finalize(session, manager, cycle.id, clock=clock)
    with pytest.raises(Forbidden):
        ranking.finalize(session, manager, uuid.uuid4(), clock=clock)
    assert cycle.status == "published" and result_count(session, cycle) == 0
    assert audit_rows(session, entity_id=cycle.id) == []


def test_finalize_an_unknown_cycle_is_not_found(session, admin, clock):
    with pytest.raises(NotFound):
        ranking.finalize(session, admin, uuid.uuid4(), clock=clock)


def test_finalize_with_nobody_approved_finalizes_an_empty_ranking(session, admin, clock):
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, weight="1")
    make_rated_nomination(session, cycle, person(session, "Pat"), [{k: 5}], status="pending")
    results = ranking.finalize(session, admin, cycle.id, clock=clock)
    assert results.items == [] and cycle.status == "finalized"
    (row,) = audit_rows(session, entity_id=cycle.id, action="cycle.finalize")
    assert row.payload["ranked"] == 0 and row.payload["winners"] == 0


def test_command_line_finalize_is_audited_without_actor(session, clock, scored):
    cycle = scored[0]
    ranking.finalize(session, None, cycle.id, clock=clock)
    (row,) = audit_rows(session, entity_id=cycle.id)
    assert row.actor_id is None and row.action == "cycle.finalize"


def test_results_freeze_name_and_team_at_finalization(session, admin, clock):
    old_team, new_team = make_team(session, name="Old team"), make_team(session, name="New team")
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, weight="1")
    nominee = person(session, "Before", team=old_team)
    make_rated_nomination(session, cycle, nominee, [{k: 4}])
    ranking.finalize(session, admin, cycle.id, clock=clock)
    nominee.display_name, nominee.team_id = "After", new_team.id
    session.flush()

    (item,) = ranking.get_results(session, admin, cycle.id).items
    assert (item.nominee_name, item.team_id) == ("Before", old_team.id)
    assert len(ranking.get_results(session, admin, cycle.id, team_id=old_team.id).items) == 1
    assert ranking.get_results(session, admin, cycle.id, team_id=new_team.id).items == []


# --- results -------------------------------------------------------------------


def test_results_before_finalization_are_not_finalized(session, admin, clock, scored):
    cycle = scored[0]
    with pytest.raises(NotFinalized):
        ranking.get_results(session, admin, cycle.id)
    with pytest.raises(NotFinalized):
        ranking.get_results(session, make_user(session), cycle.id)


def test_results_of_a_draft_are_hidden_from_non_admins(session, admin, clock):
    cycle = closed_cycle(session, status="draft")
    with pytest.raises(NotFound):
        ranking.get_results(session, make_user(session), cycle.id)
    with pytest.raises(NotFinalized):
        ranking.get_results(session, admin, cycle.id)


def test_admins_see_the_whole_ranking_others_the_winners(session, admin, clock, scored):
    cycle = scored[0]
    full = ranking.finalize(session, admin, cycle.id, clock=clock)
    employee = make_user(session)
    winners = ranking.get_results(session, employee, cycle.id)
    assert [i.nominee_name for i in full.items] == ["Cara", "Alice", "Bob"]
    assert [i.nominee_name for i in winners.items] == ["Cara", "Alice"]
    assert winners.finalized_at == full.finalized_at and winners.award_slots == 2
    assert ranking.get_results(session, admin, cycle.id) == full


def test_results_filter_by_team(session, admin, clock):
    red, blue = make_team(session, name="Red"), make_team(session, name="Blue")
    cycle = closed_cycle(session, award_slots=1)
    k = make_criterion(session, cycle, weight="1")
    make_rated_nomination(session, cycle, person(session, "Rae", team=red), [{k: 5}])
    make_rated_nomination(session, cycle, person(session, "Ron", team=red), [{k: 3}])
    make_rated_nomination(session, cycle, person(session, "Bo", team=blue), [{k: 4}])
    ranking.finalize(session, admin, cycle.id, clock=clock)
    assert table(ranking.get_results(session, admin, cycle.id, team_id=red.id)) == [
        ("Rae", 1, "5.000000", 1, True),
        ("Ron", 3, "3.000000", 1, False),
    ]
    employee = make_user(session)
    assert [i.nominee_name for i in ranking.get_results(session, employee, cycle.id, team_id=red.id).items] == ["Rae"]
    assert ranking.get_results(session, employee, cycle.id, team_id=blue.id).items == []


# --- award history -------------------------------------------------------------


def _awards_fixture(session, admin, clock):
    """Three cycles finalized on three days; Wes wins the 1st, places (not
    winning) in the 2nd, wins the 3rd which is then archived. A fourth cycle is
    still published and contributes nothing."""
    manager = make_user(session, role="manager")
    team = make_team(session, manager=manager)
    wes = person(session, "Wes", team=team)
    cycles = []
    for day, (wes_rating, rival_rating) in enumerate([(5, 3), (2, 4), (4, 1)]):
        cycle = closed_cycle(session, award_slots=1, name=f"Cycle day {day}")
        k = make_criterion(session, cycle, weight="1")
        make_rated_nomination(session, cycle, wes, [{k: wes_rating}])
        make_rated_nomination(session, cycle, person(session, "Rival"), [{k: rival_rating}])
        clock.set(NOW + timedelta(days=day))
        ranking.finalize(session, admin, cycle.id, clock=clock)
        cycles.append(cycle)
    cycles[2].status, cycles[2].archived_at = "archived", NOW + timedelta(days=5)
    open_cycle = make_cycle(session)
    k = make_criterion(session, open_cycle, weight="1")
    make_rated_nomination(session, open_cycle, wes, [{k: 5}])
    session.flush()
    return wes, manager, team, cycles


def test_award_history_lists_result_rows_newest_first(session, admin, clock):
    wes, _, _, cycles = _awards_fixture(session, admin, clock)
    page = ranking.list_awards(session, wes, wes.id)
    assert [(a.cycle_id, a.cycle_name, a.rank, str(a.score), a.is_winner) for a in page.items] == [
        (cycles[2].id, "Cycle day 2", 1, "4.000000", True),
        (cycles[1].id, "Cycle day 1", 2, "2.000000", False),
        (cycles[0].id, "Cycle day 0", 1, "5.000000", True),
    ]
    assert page.items[0].finalized_at == NOW + timedelta(days=2)
    assert page.next_cursor is None


def test_award_history_pages_with_a_cursor(session, admin, clock):
    wes, _, _, cycles = _awards_fixture(session, admin, clock)
    first = ranking.list_awards(session, wes, wes.id, limit=2)
    second = ranking.list_awards(session, wes, wes.id, limit=2, cursor=first.next_cursor)
    assert [a.cycle_id for a in first.items + second.items] == [c.id for c in reversed(cycles)]
    assert second.next_cursor is None
    with pytest.raises(ValidationFailed):
        ranking.list_awards(session, wes, wes.id, cursor="garbage")


def test_award_history_is_visible_to_the_user_admins_and_the_team_manager(session, admin, clock):
    wes, manager, team, _ = _awards_fixture(session, admin, clock)
    for viewer in (wes, admin, manager, None):
        assert len(ranking.list_awards(session, viewer, wes.id).items) == 3
    teammate = person(session, "Tess", team=team)
    other_manager = make_user(session, role="manager")
    make_team(session, manager=other_manager)
    for viewer in (teammate, other_manager, make_user(session, role="team_lead", team=team)):
        with pytest.raises(NotFound):
            ranking.list_awards(session, viewer, wes.id)
    with pytest.raises(NotFound):
        ranking.list_awards(session, admin, uuid.uuid4())


def test_award_history_of_someone_never_ranked_is_empty(session, admin):
    nobody = make_user(session)
    assert ranking.list_awards(session, nobody, nobody.id).items == []


# --- CSV -----------------------------------------------------------------------


def test_csv_export_has_the_spec_columns_and_frozen_team(session, admin, clock):
    team = make_team(session, name="Platform, Core")
    later = make_team(session, name="Later")
    cycle = closed_cycle(session, award_slots=1)
    k = make_criterion(session, cycle, name="Impact", weight="0.5000", position=1)
    j = make_criterion(session, cycle, name="Craft", weight="0.5000", position=0)
    ada = make_user(session, display_name="Ada", email="ada@example.org", team=team)
    ben = make_user(session, display_name="Ben", email="ben@example.org")
    make_rated_nomination(session, cycle, ada, [{k: 5, j: 4}, {k: 4, j: 4}])  # Impact 4.5, Craft 4 -> 4.25
    make_rated_nomination(session, cycle, ben, [{k: 3, j: 1}])  # Impact 3, Craft 1 -> 2
    ranking.finalize(session, admin, cycle.id, clock=clock)
    ada.team_id = later.id
    session.flush()

    text = "".join(ranking.export_csv(session, admin, cycle.id))
    assert text.split("\r\n") == [
        "rank,nominee_id,nominee_name,nominee_email,team_name,score,approved_nominations,is_winner,Craft,Impact",
        f'1,{ada.id},Ada,ada@example.org,"Platform, Core",4.250000,1,true,4.000000,4.500000',
        f"2,{ben.id},Ben,ben@example.org,,2.000000,1,false,1.000000,3.000000",
        "",
    ]
    only_team = "".join(ranking.export_csv(session, None, cycle.id, team_id=team.id))
    assert only_team.count("\r\n") == 2 and "Ada" in only_team


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_export_prefixes_every_text_cell_that_starts_like_a_formula(session, admin, clock, lead):
    """Names, emails, team names and criterion names (header cells) starting
    with any of the six characters come out with a leading `'`; numbers and
    ids never start with one, and text that merely contains one is left alone."""
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, name=f"{lead}SUM(A1:A9)", weight="1")
    team = make_team(session, name=f"{lead}Team")
    nominee = make_user(session, display_name=f"{lead}HYPERLINK(\"http://x\")", email=f"{lead}x@example.org",
                        team=team)
    plain = make_user(session, display_name="Ann=Lee", email="ann-lee@example.org")
    make_rated_nomination(session, cycle, nominee, [{k: 5}])
    make_rated_nomination(session, cycle, plain, [{k: 4}])
    ranking.finalize(session, admin, cycle.id, clock=clock)

    rows = list(csv.reader(io.StringIO("".join(ranking.export_csv(session, admin, cycle.id)), newline="")))
    assert rows[0][-1] == f"'{lead}SUM(A1:A9)"
    assert rows[1][2:5] == [f"'{lead}HYPERLINK(\"http://x\")", f"'{lead}x@example.org", f"'{lead}Team"]
    assert rows[1][5:] == ["5.000000", "1", "true", "5.000000"]
    assert rows[2][2:5] == ["Ann=Lee", "ann-lee@example.org", ""]


def test_csv_export_streams_in_batches(session, admin, clock):
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, weight="1")
    for i in range(5):
        make_rated_nomination(session, cycle, person(session, f"N{i}"), [{k: 1 + i % 5}])
    ranking.finalize(session, admin, cycle.id, clock=clock)
    cycle_obj = ranking.require_export(session, admin, cycle.id)
    chunks = list(ranking.csv_chunks(session, cycle_obj.id, batch=2))
    assert len(chunks) == 3  # header + 2 rows, 2 rows, 1 row
    assert "".join(chunks).count("\r\n") == 6


def test_csv_export_is_admin_only_and_needs_a_finalized_cycle(session, admin, clock, scored):
    cycle = scored[0]
    with pytest.raises(NotFinalized):
        ranking.export_csv(session, admin, cycle.id)
    ranking.finalize(session, admin, cycle.id, clock=clock)
    with pytest.raises(Forbidden):
        ranking.export_csv(session, make_user(session, role="manager"), cycle.id)



def test_results_of_an_archived_cycle_stay_readable(session, admin, clock, scored):
    cycle = scored[0]
    full = ranking.finalize(session, admin, cycle.id, clock=clock)
    cycle.status, cycle.archived_at = "archived", NOW + timedelta(days=1)
    session.flush()
    assert ranking.get_results(session, admin, cycle.id) == full
    assert [i.nominee_name for i in ranking.get_results(session, make_user(session), cycle.id).items] == [
        "Cara", "Alice"
    ]
    assert "".join(ranking.export_csv(session, admin, cycle.id)).count("\r\n") == 4
