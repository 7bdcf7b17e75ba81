"""Eligibility, check 7 of creating a nomination (DOMAIN.md "Eligibility"):
with `winner_cooldown_cycles = N`, a winner of any of the N most recently
finalized other cycles cannot be nominated; the message names the cycle won."""

from datetime import timedelta

import pytest

from plaudit import errors
from plaudit.models import CycleResult, Nomination
from plaudit.services import nominations as svc
from tests.conftest import NOW
from tests.factories import auth, make_criterion, make_cycle, make_nomination, make_token, make_user
from tests.helpers import assert_problem, audit_rows, row_count

JUSTIFICATION = "Led the migration and kept everyone calm throughout."
D = timedelta(days=1)


def finished(session, name, days_ago, *, status="finalized"):
    """A cycle finalized `days_ago` days before now (archived too if asked)."""
    return make_cycle(
        session, name=name, status=status, nominations="after", approvals="after", award_slots=1,
        finalized_at=NOW - days_ago * D, archived_at=NOW - days_ago * D if status == "archived" else None,
    )


def result(session, cycle, user, *, winner=True, rank=1):
    session.add(CycleResult(
        cycle_id=cycle.id, nominee_id=user.id, nominee_name=user.display_name, rank=rank, score=4,
        approved_nominations=1, is_winner=winner, criteria=[],
    ))
    session.flush()


@pytest.fixture
def history(session):
    """Three finished cycles, oldest first:

    Autumn   finalized 30 days ago: Wes won
    Winter   finalized 20 days ago: Wyn won
    Spring   finalized 10 days ago, since archived: Wil won, Len ranked 2nd (no win)
    Kim won Winter and Spring (a message names the most recent: Spring).
    """
    people = {n: make_user(session, display_name=n) for n in ("Wes", "Wyn", "Wil", "Len", "Kim")}
    autumn, winter = finished(session, "Autumn", 30), finished(session, "Winter", 20)
    spring = finished(session, "Spring", 10, status="archived")
    result(session, autumn, people["Wes"])
    result(session, winter, people["Wyn"])
    result(session, winter, people["Kim"])
    result(session, spring, people["Wil"])
    result(session, spring, people["Kim"])
    result(session, spring, people["Len"], winner=False, rank=2)
    return people


def open_cycle(session, cooldown, **fields):
    cycle = make_cycle(session, winner_cooldown_cycles=cooldown, **fields)
    make_criterion(session, cycle)
    return cycle


def nominate(session, clock, nominator, cycle, nominee):
    return svc.create_nomination(
        session, nominator, cycle.id, nominee_id=nominee.id, justification=JUSTIFICATION, clock=clock
    )


def refused(session, clock, nominator, cycle, nominee, error):
    """The creation fails with `error`; nothing is written. Returns the message."""
    audits, rows = len(audit_rows(session)), row_count(session, Nomination)
    with pytest.raises(error) as caught:
        nominate(session, clock, nominator, cycle, nominee)
    assert (len(audit_rows(session)), row_count(session, Nomination)) == (audits, rows)
    return caught.value.message


@pytest.mark.parametrize(
    ("cooldown", "ineligible", "eligible"),
    [
        (0, {}, ["Wes", "Wyn", "Wil", "Len", "Kim"]),
        (1, {"Wil": "Spring", "Kim": "Spring"}, ["Wes", "Wyn", "Len"]),  # Spring only (archived counts)
        (2, {"Wil": "Spring", "Kim": "Spring", "Wyn": "Winter"}, ["Wes", "Len"]),  # Spring and Winter
        (3, {"Wil": "Spring", "Kim": "Spring", "Wyn": "Winter", "Wes": "Autumn"}, ["Len"]),
    ],
)
def test_winners_of_the_last_n_finalized_cycles_are_ineligible(
    session, clock, history, cooldown, ineligible, eligible
):
    cycle = open_cycle(session, cooldown)
    nominator = make_user(session)
    for name, won in ineligible.items():
        message = refused(session, clock, nominator, cycle, history[name], errors.IneligibleNominee)
        assert f"{name} won '{won}'" in message
    for name in eligible:
        assert nominate(session, clock, nominator, cycle, history[name]).nominee_id == history[name].id


def test_the_most_recent_finalization_decides_which_cycles_are_recent(session, clock, history):
    """A fourth cycle finalized just now pushes Spring out of a cool-down of 1."""
    latest = finished(session, "Summer", 0)
    result(session, latest, make_user(session))
    cycle = open_cycle(session, 1)
    nominator = make_user(session)
    assert nominate(session, clock, nominator, cycle, history["Wil"]).nominee_id == history["Wil"].id


def test_check_7_comes_after_self_nomination_and_before_duplicate_and_quota(session, clock, history):
    kim = history["Kim"]
    cycle = open_cycle(session, 1)
    # 6 before 7: Kim, a recent winner, nominating herself
    refused(session, clock, kim, cycle, kim, errors.SelfNomination)
    # 7 before 8: the nominator's live nomination of Kim already exists (made before Spring was finalized)
    nominator = make_user(session)
    make_nomination(session, cycle, nominator, kim)
    refused(session, clock, nominator, cycle, kim, errors.IneligibleNominee)
    # 7 before 9, on the quota path: the nominator's one nomination is used up
    quota_cycle = open_cycle(session, 1, max_nominations_per_nominator=1)
    make_nomination(session, quota_cycle, nominator, history["Len"])
    refused(session, clock, nominator, quota_cycle, kim, errors.IneligibleNominee)
    refused(session, clock, nominator, quota_cycle, history["Wes"], errors.QuotaExceeded)
    # 5 before 7: a deactivated recent winner is simply not nominable
    history["Wil"].is_active = False
    session.flush()
    refused(session, clock, nominator, cycle, history["Wil"], errors.InvalidNominee)


def test_ineligible_nominee_is_a_422_over_http(client, session, history):
    cycle = open_cycle(session, 2)
    nominator = make_user(session)
    response = client.post(
        f"/cycles/{cycle.id}/nominations", json={"nominee_id": str(history["Wyn"].id), "justification": JUSTIFICATION},
        headers=auth(make_token(session, nominator)),
    )
    assert_problem(response, 422, "ineligible_nominee")
    assert "Wyn won 'Winter'" in response.json()["detail"]
