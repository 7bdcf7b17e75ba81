"""inputs_digest (the canonical text documented in `plaudit.services.results_digest`)
and `verify_results`, which recomputes a finalized cycle from its stored inputs."""

import hashlib

import pytest
from sqlalchemy import select, text

from plaudit.errors import NotFinalized, NotFound
from plaudit.models import Approval, ApprovalRating, CycleResult, Nomination
from plaudit.services import ranking
from plaudit.services.results_digest import inputs_digest
from plaudit.services.results_verify import verify_results
from tests.factories import make_criterion, make_cycle, make_rated_nomination, make_user
from tests.helpers import audit_rows


@pytest.fixture
def admin(session):
    return make_user(session, role="admin")


@pytest.fixture
def finalized(session, admin, clock):
    """A finalized cycle: two criteria, three nominees, one pending and one
    rejected nomination (neither counts)."""
    cycle = make_cycle(session, nominations="after", approvals="after", award_slots=1)
    impact = make_criterion(session, cycle, name="Impact", weight="0.7000")
    craft = make_criterion(session, cycle, name="Craft", weight="0.3000", position=1)
    ann, ben, cat = (make_user(session, display_name=n) for n in ("Ann", "Ben", "Cat"))
    make_rated_nomination(session, cycle, ann, [{impact: 5, craft: 3}, {impact: 4, craft: 4}])
    make_rated_nomination(session, cycle, ben, [{impact: 3, craft: 5}])
    make_rated_nomination(session, cycle, cat, [{impact: 2, craft: 2}])
    make_rated_nomination(session, cycle, cat, [{impact: 5, craft: 5}], status="pending")
    make_rated_nomination(session, cycle, ben, [{impact: 1, craft: 1}], status="rejected", decision="reject")
    ranking.finalize(session, admin, cycle.id, clock=clock)
    return cycle


def auditor_digest(session, cycle) -> str:
    """The digest recomputed the way the module docstring tells an auditor to."""
    criteria = session.execute(text("SELECT id, weight FROM criteria WHERE cycle_id = :c"), {"c": cycle.id}).all()
    rows = session.execute(
        text(
            "SELECT n.id, n.nominee_id, a.approver_id, r.criterion_id, r.value FROM nominations n"
            " JOIN approvals a ON a.nomination_id = n.id AND a.decision = 'approve'"
            " JOIN approval_ratings r ON r.approval_id = a.id"
            " WHERE n.cycle_id = :c AND n.status = 'approved'"
        ),
        {"c": cycle.id},
    ).all()
    approvals = {}
    for n, nominee, approver, c, v in rows:
        approvals.setdefault((n, nominee, approver), []).append((c, v))
    approvals = [(*key, ratings) for key, ratings in approvals.items()]

    criteria = sorted(criteria)
    k = {id: i for i, (id, _) in enumerate(criteria, 1)}
    method, slots = cycle.score_normalization, cycle.award_slots
    lines = ["plaudit inputs v1", f"cycle {cycle.id}", f"scoring {method}", f"award_slots {slots}"]
    lines += [f"criterion {i} {id} {weight:.4f}" for i, (id, weight) in enumerate(criteria, 1)]
    lines += sorted(f"approval {n} {nominee} {approver} " + " ".join(f"{k[c]}:{v}" for c, v in sorted(
        ratings, key=lambda cv: k[cv[0]])) for n, nominee, approver, ratings in approvals)
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()


def test_finalize_stores_the_digest_of_the_documented_canonical_text(session, admin, clock, finalized):
    digest = auditor_digest(session, finalized)
    assert finalized.inputs_digest == digest
    assert ranking.get_results(session, admin, finalized.id).inputs_digest == digest
    (row,) = audit_rows(session, entity_id=finalized.id, action="cycle.finalize")
    assert row.payload["after"]["inputs_digest"] == digest


def test_a_preview_has_no_digest(session, admin, clock):
    cycle = make_cycle(session, nominations="after", approvals="open")
    make_criterion(session, cycle)
    assert ranking.preview(session, admin, cycle.id, clock=clock).inputs_digest is None


def test_the_digest_changes_with_a_counted_rating_and_not_with_what_does_not_count(session, finalized):
    before = inputs_digest(session, finalized.id)
    pending = session.scalar(select(Nomination.id).where(Nomination.cycle_id == finalized.id,
                                                          Nomination.status == "pending"))
    session.execute(
        text("UPDATE approval_ratings SET value = 1 WHERE approval_id IN"
             " (SELECT id FROM approvals WHERE nomination_id = :n)"), {"n": pending}
    )
    assert inputs_digest(session, finalized.id) == before
    counted = session.scalar(
        select(ApprovalRating).join(Approval).join(Nomination)
        .where(Nomination.cycle_id == finalized.id, Nomination.status == "approved").limit(1)
    )
    counted.value = 1 if counted.value != 1 else 2
    session.flush()
    assert inputs_digest(session, finalized.id) != before


def test_the_digest_follows_the_stored_ratings_even_when_they_break_the_rules(session, finalized):
    """The digest is computed from the ranking's pivoted rows; whatever is
    stored, it must still be the documented text: a rating that is missing is
    left out of its line, and a rating for another cycle's criterion (the
    service refuses both) is not there at all."""
    counted = session.scalar(
        select(ApprovalRating).join(Approval).join(Nomination)
        .where(Nomination.cycle_id == finalized.id, Nomination.status == "approved").limit(1)
    )
    session.delete(counted)
    session.flush()
    assert inputs_digest(session, finalized.id) == auditor_digest(session, finalized)
    before = inputs_digest(session, finalized.id)
    other = make_cycle(session)
    stray = make_criterion(session, other, name="Elsewhere")
    session.add(ApprovalRating(approval_id=counted.approval_id, criterion_id=stray.id, value=3))
    session.flush()
    assert inputs_digest(session, finalized.id) == before


def test_an_untouched_cycle_verifies(session, finalized):
    assert verify_results(session, finalized.id) == []


def test_a_changed_score_is_named(session, finalized):
    winner = session.scalar(select(CycleResult).where(CycleResult.cycle_id == finalized.id, CycleResult.rank == 1))
    stored = winner.score
    winner.score = stored + 1
    session.flush()
    (difference,) = verify_results(session, finalized.id)
    assert difference.what == f"nominee {winner.nominee_id} ({winner.nominee_name}) score"
    assert (difference.stored, difference.recomputed) == (stored + 1, stored)


def test_a_changed_rating_is_named_through_the_score_and_the_digest(session, finalized):
    ben = session.scalar(select(CycleResult).where(CycleResult.cycle_id == finalized.id,
                                                   CycleResult.nominee_name == "Ben"))
    session.execute(
        text("UPDATE approval_ratings r SET value = 1 FROM approvals a, nominations n"
             " WHERE r.approval_id = a.id AND a.nomination_id = n.id AND n.nominee_id = :u AND n.status = 'approved'"),
        {"u": ben.nominee_id},
    )
    differences = [str(d) for d in verify_results(session, finalized.id)]
    assert differences[0] == f"nominee {ben.nominee_id} (Ben) score: stored 3.600000, recomputed 1.000000"
    assert differences[-1].startswith(f"inputs_digest: stored {finalized.inputs_digest}, recomputed ")


def test_a_changed_winner_flag_and_a_deleted_result_row_are_named(session, finalized):
    rows = session.scalars(
        select(CycleResult).where(CycleResult.cycle_id == finalized.id).order_by(CycleResult.rank)
    ).all()
    rows[1].is_winner = True
    session.delete(rows[2])
    session.flush()
    assert [str(d) for d in verify_results(session, finalized.id)] == [
        f"nominee {rows[1].nominee_id} ({rows[1].nominee_name}) is_winner: stored True, recomputed False",
        f"nominee {rows[2].nominee_id}: stored no result row, recomputed ranked",
    ]


def test_verify_needs_a_finalized_cycle(session):
    with pytest.raises(NotFinalized):
        verify_results(session, make_cycle(session).id)
    with pytest.raises(NotFound):
        verify_results(session, make_user(session).id)


def test_renaming_nominees_after_finalization_is_not_a_mismatch(session, admin, clock):
    """A tie decided by name was decided on the names frozen at finalization
    (`cycle_results.nominee_name`): renaming the nominees afterwards, so that
    their alphabetical order flips, changes no stored result and verify still
    says the results match; a tampered tie explanation is still named."""
    cycle = make_cycle(session, nominations="after", approvals="after", award_slots=1)
    impact = make_criterion(session, cycle, name="Impact", weight="1.0000")
    ann, ben, cat = (make_user(session, display_name=n) for n in ("Ann", "Ben", "Cat"))
    for nominee in (ben, ann):
        make_rated_nomination(session, cycle, nominee, [{impact: 4}])
    make_rated_nomination(session, cycle, cat, [{impact: 2}])
    ranking.finalize(session, admin, cycle.id, clock=clock)
    listed = [(r.nominee_name, r.rank, r.tie_break, r.is_winner)
              for r in ranking.get_results(session, admin, cycle.id).items]
    assert listed == [("Ann", 1, None, True), ("Ben", 1, "name", True), ("Cat", 3, "score", False)]

    ann.display_name, ben.display_name, cat.display_name = "Zoe", "Abe", "Aaron"
    session.flush()
    assert verify_results(session, cycle.id) == []

    ben_row = session.scalar(select(CycleResult).where(CycleResult.cycle_id == cycle.id,
                                                       CycleResult.nominee_id == ben.id))
    ben_row.tie_break = "score"
    session.flush()
    assert [str(d) for d in verify_results(session, cycle.id)] == [
        f"nominee {ben.id} (Ben) tie_break: stored score, recomputed name"
    ]
