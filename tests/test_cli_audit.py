"""`plaudit audit seal`, `plaudit audit verify` and `plaudit results verify`,
in-process against a really-committing database (tampered with as its owner)."""

import re
import time

from sqlalchemy import update
from sqlalchemy.orm import Session

from plaudit.clock import FixedClock
from plaudit.models import CycleResult
from plaudit.services import audit_chain, ranking
from tests.conftest import NOW
from tests.factories import make_criterion, make_cycle, make_rated_nomination, make_user
from tests.services.test_audit_chain import link, tamper, write


def test_seal_then_verify_then_a_tampered_row_exits_1_naming_it(cli, committed_db):
    write(committed_db, 3)
    sealed, deadline = 0, time.monotonic() + 30
    while sealed < 3:  # another session on a shared server may hold the horizon back for a moment
        result = cli("audit", "seal")
        assert result.exit_code == 0, result.output
        sealed += int(re.fullmatch(r"sealed (\d+) audit rows\n", result.stdout).group(1))
        assert time.monotonic() < deadline
    assert sealed == 3

    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert re.fullmatch(r"verified: 3 sealed rows match, head [0-9a-f]{64}; 0 unsealed \(.*\)\n", verified.stdout)

    audit_id, seq, _ = link(committed_db, 2)
    tamper(committed_db, "UPDATE audit_logs SET action = 'user.create' WHERE id = :id", id=audit_id)
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert broken.stdout == f"audit row {audit_id} (seq {seq}, position 2) does not match its seal\n"
    with Session(committed_db) as s:
        last = audit_chain.last_verification(s)
        assert (last.ok, last.sealed, last.problem) == (False, 1, broken.stdout.strip())


def test_results_verify_says_verified_then_names_a_changed_score_and_exits_1(cli, committed_db):
    with Session(committed_db, expire_on_commit=False) as s, s.begin():
        cycle = make_cycle(s, nominations="after", approvals="after")
        k = make_criterion(s, cycle, weight="1")
        winner = make_user(s, display_name="Win")
        make_rated_nomination(s, cycle, winner, [{k: 5}])
        make_rated_nomination(s, cycle, make_user(s), [{k: 2}])
        ranking.finalize(s, None, cycle.id, clock=FixedClock(NOW))
    verified = cli("results", "verify", str(cycle.id))
    assert (verified.exit_code, verified.stdout) == (0, "verified\n")

    with Session(committed_db) as s, s.begin():
        s.execute(update(CycleResult).where(CycleResult.nominee_id == winner.id).values(score=4))
    changed = cli("results", "verify", str(cycle.id))
    assert changed.exit_code == 1
    assert changed.stdout == f"differs: nominee {winner.id} (Win) score: stored 4.000000, recomputed 5.000000\n"
