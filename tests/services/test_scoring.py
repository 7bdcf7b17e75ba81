"""Spread, tie explanation and normalisation (DOMAIN.md "Scoring and ranking").

Every expected number is computed by hand in the test's docstring. Rankings
are read through `ranking.preview` (published cycles, live) or `finalize`
(stored), arranged straight in the tables (factories).
"""

import uuid
from decimal import Decimal

import pytest

from plaudit.errors import CycleState, Forbidden, WeightsInvalid
from plaudit.schemas.results import Results
from plaudit.services import ranking
from tests.factories import make_approval, make_criterion, make_cycle, make_nomination, make_user
from tests.helpers import audit_rows


def closed_cycle(session, **fields):
    return make_cycle(session, nominations="after", approvals="after", **fields)


def person(session, name):
    return make_user(session, display_name=name)


def rated(session, cycle, nominee, *approvals):
    """An approved nomination of `nominee` with one approval per (approver, {criterion: value})."""
    nomination = make_nomination(session, cycle, make_user(session), nominee, status="approved")
    for approver, ratings in approvals:
        make_approval(session, nomination, approver, ratings=ratings)
    return nomination


def rows(results):
    """(name, rank, score, approved, winner, spread, tie_break) per item, in order."""
    return [
        (i.nominee_name, i.rank, str(i.score), i.approved_nominations, i.is_winner, str(i.spread), i.tie_break)
        for i in results.items
    ]


@pytest.fixture
def judges(session):
    return [make_user(session, role="admin", display_name=f"Judge {n}") for n in range(4)]


# --- spread --------------------------------------------------------------------


def test_spread_is_the_range_of_approval_scores_over_all_approved_nominations(session, admin, clock, judges):
    """Impact 0.7, Craft 0.3.

    Gil, nomination 1: approvals (I5, C1) -> 0.7*5 + 0.3*1 = 3.8 and (I3, C5) -> 2.1 + 1.5 = 3.6
                      means I 4, C 3 -> score(n1) = 2.8 + 0.9 = 3.7
         nomination 2: one approval (I4, C4) -> 4.0 = score(n2)
         score = (3.7 + 4.0) / 2 = 3.85; spread = 4.0 - 3.6 = 0.4 (over both nominations)
    Hal, one approval (I2, C2) -> 2.0, spread 0 (one approval).
    """
    cycle = closed_cycle(session)
    impact = make_criterion(session, cycle, name="Impact", weight="0.7000", position=0)
    craft = make_criterion(session, cycle, name="Craft", weight="0.3000", position=1)
    gil, hal = person(session, "Gil"), person(session, "Hal")
    rated(session, cycle, gil, (judges[0], {impact: 5, craft: 1}), (judges[1], {impact: 3, craft: 5}))
    rated(session, cycle, gil, (judges[2], {impact: 4, craft: 4}))
    rated(session, cycle, hal, (judges[0], {impact: 2, craft: 2}))

    assert rows(ranking.preview(session, admin, cycle.id, clock=clock)) == [
        ("Gil", 1, "3.850000", 2, True, "0.400000", None),
        ("Hal", 2, "2.000000", 1, True, "0.000000", "score"),
    ]


# --- tie explanation -----------------------------------------------------------


def test_each_tie_break_and_a_three_way_tie_at_the_winner_boundary(session, admin, clock, judges):
    """One criterion, weight 1; award_slots 2.

    Ann 5 (one nomination)                       -> rank 1, first: tie_break null
    Bea, Cal, Dee: two nominations rated 4 each  -> score 4, approved 2: rank 2, three-way tie
        Bea is below Ann by score; Cal and Dee share Bea's rank and follow by name
        rank 2 <= 2 slots: all three win (4 winners for 2 slots)
    Eve: one nomination rated 4                  -> score 4, approved 1: rank 5, below Dee by
        approved_nominations; not a winner
    Fay: 3                                       -> rank 6, below Eve by score
    """
    cycle = closed_cycle(session, award_slots=2)
    k = make_criterion(session, cycle, weight="1")
    ann, bea, cal, dee, eve, fay = (person(session, n) for n in ("Ann", "Bea", "Cal", "Dee", "Eve", "Fay"))
    rated(session, cycle, ann, (judges[0], {k: 5}))
    for nominee in (dee, bea, cal):  # created out of order: the list order is by name
        rated(session, cycle, nominee, (judges[0], {k: 4}))
        rated(session, cycle, nominee, (judges[1], {k: 4}))
    rated(session, cycle, eve, (judges[0], {k: 4}))
    rated(session, cycle, fay, (judges[0], {k: 3}))

    expected = [
        ("Ann", 1, "5.000000", 1, True, "0.000000", None),
        ("Bea", 2, "4.000000", 2, True, "0.000000", "score"),
        ("Cal", 2, "4.000000", 2, True, "0.000000", "name"),
        ("Dee", 2, "4.000000", 2, True, "0.000000", "name"),
        ("Eve", 5, "4.000000", 1, False, "0.000000", "approved_nominations"),
        ("Fay", 6, "3.000000", 1, False, "0.000000", "score"),
    ]
    assert rows(ranking.preview(session, admin, cycle.id, clock=clock)) == expected
    assert rows(ranking.finalize(session, admin, cycle.id, clock=clock)) == expected  # stored with the results


# --- normalisation -------------------------------------------------------------


def test_zscore_makes_a_lenient_and_a_harsh_approver_who_agree_on_the_order_tie(session, admin, clock, judges):
    """One criterion, weight 1. Lenient L rates Ann 5, Bob 4; harsh H rates Cid 3, Dan 2.

    none:   Ann 5, Bob 4, Cid 3, Dan 2.
    zscore: L: μ = 4.5, σ = 0.5; H: μ = 2.5, σ = 0.5;
            everyone: μ = (5+4+3+2)/4 = 3.5, σ = sqrt((1.5² + 0.5² + 0.5² + 1.5²)/4) = sqrt(1.25) = 1.1180339887…
            Ann: 3.5 + 1.1180339887 × (5 - 4.5)/0.5 = 4.6180339887… -> 4.618034; Cid the same (3 - 2.5 = 0.5)
            Bob: 3.5 - 1.1180339887… = 2.3819660112… -> 2.381966; Dan the same
            -> Ann and Cid share rank 1 (Cid listed by name), Bob and Dan share rank 3.
    """
    cycle = closed_cycle(session, award_slots=1, score_normalization="zscore")
    k = make_criterion(session, cycle, weight="1")
    lenient, harsh = judges[0], judges[1]
    ann, bob, cid, dan = (person(session, n) for n in ("Ann", "Bob", "Cid", "Dan"))
    rated(session, cycle, ann, (lenient, {k: 5}))
    rated(session, cycle, bob, (lenient, {k: 4}))
    rated(session, cycle, cid, (harsh, {k: 3}))
    rated(session, cycle, dan, (harsh, {k: 2}))

    assert rows(ranking.preview(session, admin, cycle.id, clock=clock)) == [
        ("Ann", 1, "4.618034", 1, True, "0.000000", None),
        ("Cid", 1, "4.618034", 1, True, "0.000000", "name"),
        ("Bob", 3, "2.381966", 1, False, "0.000000", "score"),
        ("Dan", 3, "2.381966", 1, False, "0.000000", "name"),
    ]
    cycle.score_normalization = "none"
    session.flush()
    assert [(i.nominee_name, str(i.score)) for i in ranking.preview(session, admin, cycle.id, clock=clock).items] == [
        ("Ann", "5.000000"), ("Bob", "4.000000"), ("Cid", "3.000000"), ("Dan", "2.000000"),
    ]


def test_zscore_gives_an_approver_with_no_spread_the_overall_mean(session, admin, clock, judges):
    """One criterion, weight 1. L rates Ann 5, Bob 4; Z rates Eve 4 and Fay 4 (σ(Z) = 0).

    everyone: μ = (5+4+4+4)/4 = 4.25, σ = sqrt((0.75² + 3 × 0.25²)/4) = sqrt(0.1875) = 0.4330127018…
    Z's ratings -> μ = 4.25 exactly: Eve and Fay 4.250000.
    L: μ = 4.5, σ = 0.5: Ann 4.25 + 0.4330127018… = 4.6830127018… -> 4.683013
                         Bob 4.25 - 0.4330127018… = 3.8169872981… -> 3.816987
    """
    cycle = closed_cycle(session, score_normalization="zscore")
    k = make_criterion(session, cycle, weight="1")
    lenient, flat = judges[0], judges[1]
    ann, bob, eve, fay = (person(session, n) for n in ("Ann", "Bob", "Eve", "Fay"))
    rated(session, cycle, ann, (lenient, {k: 5}))
    rated(session, cycle, bob, (lenient, {k: 4}))
    rated(session, cycle, eve, (flat, {k: 4}))
    rated(session, cycle, fay, (flat, {k: 4}))

    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert [(i.nominee_name, i.rank, str(i.score)) for i in results.items] == [
        ("Ann", 1, "4.683013"), ("Eve", 2, "4.250000"), ("Fay", 2, "4.250000"), ("Bob", 4, "3.816987"),
    ]


def test_zscore_with_a_single_approver_changes_nothing(session, admin, clock, judges):
    """Impact 0.6, Craft 0.4, one approver: μ(a,c) = μ(c) and σ(a,c) = σ(c), so every
    rating' = rating (σ(c)/σ(a,c) = sqrt(1) = 1 exactly, and μ(c) - 1 × μ(a,c) = 0).

    Ann (I5, C2) -> 3.0 + 0.8 = 3.8; Bob (I3, C4) -> 1.8 + 1.6 = 3.4; Cal (I4, C3) -> 2.4 + 1.2 = 3.6.
    Craft for Bob and Cal within one approver who rated Ann 2: σ(a, Craft) > 0, nothing special.
    """
    cycle = closed_cycle(session, score_normalization="zscore")
    impact = make_criterion(session, cycle, name="Impact", weight="0.6000", position=0)
    craft = make_criterion(session, cycle, name="Craft", weight="0.4000", position=1)
    only = judges[0]
    ann, bob, cal = (person(session, n) for n in ("Ann", "Bob", "Cal"))
    rated(session, cycle, ann, (only, {impact: 5, craft: 2}))
    rated(session, cycle, bob, (only, {impact: 3, craft: 4}))
    rated(session, cycle, cal, (only, {impact: 4, craft: 3}))

    results = ranking.preview(session, admin, cycle.id, clock=clock)
    assert [(i.nominee_name, str(i.score)) for i in results.items] == [
        ("Ann", "3.800000"), ("Cal", "3.600000"), ("Bob", "3.400000"),
    ]
    assert [(c.name, str(c.mean)) for c in results.items[0].criteria] == [("Impact", "5.000000"), ("Craft", "2.000000")]


def test_zscore_spread_uses_the_normalised_approval_scores(session, admin, clock, judges):
    """One criterion, weight 1. Approver P rates Ann 5 and Bob 1; Q rates Ann 3 and Bob 3.

    everyone: μ = 3, σ = sqrt((4 + 4 + 0 + 0)/4) = sqrt(2) = 1.4142135623…
    P: μ = 3, σ = 2 -> Ann' = 3 + 1.4142135623 × 2/2 = 4.4142135623…, Bob' = 1.5857864376…
    Q: σ = 0 -> both 3.
    Ann: mean (4.4142135623 + 3)/2 = 3.7071067811… -> 3.707107; spread 1.4142135623… -> 1.414214
    Bob: mean (1.5857864376 + 3)/2 = 2.2928932188… -> 2.292893; spread 1.414214
    """
    cycle = closed_cycle(session, score_normalization="zscore")
    k = make_criterion(session, cycle, weight="1")
    p, q = judges[0], judges[1]
    ann, bob = person(session, "Ann"), person(session, "Bob")
    rated(session, cycle, ann, (p, {k: 5}), (q, {k: 3}))
    rated(session, cycle, bob, (p, {k: 1}), (q, {k: 3}))

    assert rows(ranking.preview(session, admin, cycle.id, clock=clock)) == [
        ("Ann", 1, "3.707107", 1, True, "1.414214", None),
        ("Bob", 2, "2.292893", 1, True, "1.414214", "score"),
    ]


def test_stored_results_keep_spread_and_tie_break(session, admin, clock, judges):
    """Ann (5) and Bob (5, 3): scores 5 and 4; spreads 0 and 2; Bob below Ann by score."""
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, weight="1")
    ann, bob = person(session, "Ann"), person(session, "Bob")
    rated(session, cycle, ann, (judges[0], {k: 5}))
    rated(session, cycle, bob, (judges[0], {k: 5}), (judges[1], {k: 3}))
    ranking.finalize(session, admin, cycle.id, clock=clock)

    full = ranking.get_results(session, admin, cycle.id)
    assert [(i.nominee_name, i.spread, i.tie_break) for i in full.items] == [
        ("Ann", Decimal("0"), None), ("Bob", Decimal("2"), "score"),
    ]
    winners = ranking.get_results(session, person(session, "Someone"), cycle.id)
    assert [(i.nominee_name, i.spread, i.tie_break) for i in winners.items] == [
        ("Ann", None, None), ("Bob", None, None),
    ]


# --- what-if -------------------------------------------------------------------


@pytest.fixture
def two_ways(session, judges):
    """Impact 0.8, Team 0.2 (the cycle's weights). Ann (I5, T1), Bob (I1, T5).

    as stored: Ann 0.8*5 + 0.2*1 = 4.2, Bob 0.8*1 + 0.2*5 = 1.8  -> Ann first
    what-if Impact 0.2, Team 0.8: Ann 1.0 + 0.8 = 1.8, Bob 0.2 + 4.0 = 4.2 -> Bob first
    """
    cycle = closed_cycle(session, award_slots=1)
    impact = make_criterion(session, cycle, name="Impact", weight="0.8000", position=0)
    team = make_criterion(session, cycle, name="Team", weight="0.2000", position=1)
    ann, bob = person(session, "Ann"), person(session, "Bob")
    rated(session, cycle, ann, (judges[0], {impact: 5, team: 1}))
    rated(session, cycle, bob, (judges[0], {impact: 1, team: 5}))
    return cycle, impact, team


def what_if(session, actor, cycle, **changes):
    return Results.model_validate_json(ranking.what_if(session, actor, cycle.id, **changes))


def test_what_if_weights_reverse_the_ranking_and_store_nothing(session, admin, clock, two_ways):
    cycle, impact, team = two_ways
    assert [(i.nominee_name, str(i.score)) for i in what_if(session, admin, cycle).items] == [
        ("Ann", "4.200000"), ("Bob", "1.800000"),
    ]
    reversed_ = what_if(session, admin, cycle, weights={impact.id: Decimal("0.2"), team.id: Decimal("0.8")})
    assert [(i.nominee_name, i.rank, str(i.score), i.is_winner) for i in reversed_.items] == [
        ("Bob", 1, "4.200000", True), ("Ann", 2, "1.800000", False),
    ]
    assert [(c.name, str(c.weight)) for c in reversed_.items[0].criteria] == [("Impact", "0.2000"), ("Team", "0.8000")]
    assert (reversed_.cycle_name, reversed_.finalized_at, reversed_.inputs_digest) == (cycle.name, None, None)
    assert audit_rows(session) == []
    session.refresh(impact)
    assert impact.weight == Decimal("0.8000")


def test_what_if_works_on_finalized_and_archived_cycles_not_drafts(session, admin, clock, two_ways):
    cycle, impact, team = two_ways
    ranking.finalize(session, admin, cycle.id, clock=clock)
    weights = {impact.id: Decimal("0.2"), team.id: Decimal("0.8")}
    assert [i.nominee_name for i in what_if(session, admin, cycle, weights=weights).items] == ["Bob", "Ann"]
    assert [i.nominee_name for i in ranking.get_results(session, admin, cycle.id).items] == ["Ann", "Bob"]
    cycle.status, cycle.archived_at = "archived", cycle.finalized_at
    session.flush()
    assert [i.nominee_name for i in what_if(session, admin, cycle, weights=weights).items] == ["Bob", "Ann"]
    draft = make_cycle(session, status="draft")
    with pytest.raises(CycleState):
        ranking.what_if(session, admin, draft.id)
    with pytest.raises(Forbidden):
        ranking.what_if(session, person(session, "Manager"), cycle.id)


def test_what_if_switches_the_normalisation(session, admin, clock, judges):
    """The lenient/harsh cycle of the zscore test above, stored as `none`: a what-if
    with zscore gives 4.618034 to Ann and Cid (see that test's arithmetic)."""
    cycle = closed_cycle(session)
    k = make_criterion(session, cycle, weight="1")
    ann, cid = person(session, "Ann"), person(session, "Cid")
    rated(session, cycle, ann, (judges[0], {k: 5}))
    rated(session, cycle, person(session, "Bob"), (judges[0], {k: 4}))
    rated(session, cycle, cid, (judges[1], {k: 3}))
    rated(session, cycle, person(session, "Dan"), (judges[1], {k: 2}))
    normalised = what_if(session, admin, cycle, normalization="zscore")
    assert [(i.nominee_name, i.rank, str(i.score)) for i in normalised.items[:2]] == [
        ("Ann", 1, "4.618034"), ("Cid", 1, "4.618034"),
    ]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (lambda i, t: {i: Decimal("1")}, "no weight for Team"),
        (lambda i, t: {i: Decimal("0.5"), t: Decimal("0.4")}, "weights sum to 0.9000, not 1"),
        (lambda i, t: {i: Decimal("0.5"), t: Decimal("0.5"), uuid.uuid4(): Decimal("0.1")}, "not criteria of"),
        (lambda i, t: {i: Decimal("1.1"), t: Decimal("-0.1")}, "is not between 0 and 1"),
    ],
)
def test_what_if_weights_must_cover_every_criterion_and_sum_to_one(session, admin, two_ways, weights, message):
    cycle, impact, team = two_ways
    with pytest.raises(WeightsInvalid) as caught:
        ranking.what_if(session, admin, cycle.id, weights=weights(impact.id, team.id))
    assert message in caught.value.message
