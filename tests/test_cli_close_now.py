"""`plaudit cycles close-nominations|close-approvals CYCLE_ID`."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.models import AuditLog, Cycle


def test_close_now_from_the_command_line(cli, committed_db):
    assert cli("demo").exit_code == 0
    with Session(committed_db) as s:
        cycle_id = s.scalar(select(Cycle.id).where(Cycle.status == "published"))
    before = datetime.now(UTC)
    result = cli("cycles", "close-approvals", str(cycle_id))
    assert result.exit_code == 0, result.output
    assert "approvals close" in result.stdout
    with Session(committed_db) as s:
        cycle = s.get(Cycle, cycle_id)
        assert before <= cycle.approval_closes_at <= datetime.now(UTC)
        assert cycle.nomination_closes_at <= cycle.approval_closes_at
        row = s.scalars(select(AuditLog).where(AuditLog.entity_id == cycle_id).order_by(AuditLog.seq.desc())).first()
        assert (row.action, row.actor_id) == ("cycle.update", None)
        assert "approval_closes_at" in row.payload["before"]
    again = cli("cycles", "close-nominations", str(cycle_id))
    assert again.exit_code == 1 and "error: window_closed" in again.output
    unknown = cli("cycles", "close-approvals", str(uuid.uuid4()))
    assert unknown.exit_code == 1 and "error: not_found" in unknown.output
