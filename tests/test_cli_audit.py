"""`plaudit audit seal` and `plaudit audit verify`, in-process against a
really-committing database."""

import re
import time

from sqlalchemy.orm import Session

from plaudit.services import audit_chain
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
