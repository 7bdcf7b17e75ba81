"""The audit hash chain (DOMAIN.md "Tamper evidence"): seal, verify, and the
cached outcome of the last verification.

Order. Every audit row carries `txid`, the id of the transaction that wrote
it. The chain's total order is `(txid, seq)`. A row is sealed only once no
transaction with a smaller id can still be running: below PostgreSQL's
snapshot `xmin` (`pg_snapshot_xmin(pg_current_snapshot())`) every
transaction has committed or rolled back, and a transaction that starts
later gets a larger id, so no row can ever appear below that horizon again.
Sealing therefore appends to the chain in its final order, and writers
never wait for it: they only insert, as before.

Link. Position `p` (1, 2, ... with no gap) holds
`hash_p = SHA-256(hash_{p-1} ‖ UTF-8 canonical text of the row)`, with
`hash_0` 32 zero bytes. The canonical text is PostgreSQL's text of this
JSON array (`CANONICAL_SQL`):

    jsonb_build_array(id, seq, txid,
                      to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                      actor_id, action, entity_type, entity_id, payload, request_id)::text

Sealing is the database function `audit_seal(max_rows)` (created by the
migration that introduced the chain): one round trip seals a batch under an
advisory lock, so sealers never race. The workers run it every 2 seconds
(`plaudit.mail.jobs`, a periodic job); `plaudit audit seal` on demand.
Verification is done here, in Python with `hashlib`, over the rows' text:
it trusts neither the stored hashes nor the sealing function.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from plaudit.clock import Clock
from plaudit.models import AuditVerification

GENESIS = bytes(32)
# Rows per sealing transaction: big enough to reach the sealing rate, small
# enough to keep each transaction short.
BATCH = 10_000

CANONICAL_SQL = """jsonb_build_array(
    a.id, a.seq, a.txid,
    to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    a.actor_id, a.action, a.entity_type, a.entity_id, a.payload, a.request_id
)::text"""


def seal(session: Session, *, max_rows: int | None = BATCH) -> int:
    """Seal up to `max_rows` of the rows that can be sealed now (all of them
    with None), in the caller's transaction; return how many."""
    return session.execute(text("SELECT audit_seal(:n)"), {"n": max_rows}).scalar_one()


def seal_pending(factory: Callable[[], Session]) -> int:
    """Seal everything that can be sealed now, a batch per committed
    transaction; return how many rows were sealed."""
    total = 0
    while True:
        with factory() as session, session.begin():
            sealed = seal(session)
        total += sealed
        if sealed < BATCH:
            return total


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found. `problem` names the first row that does not
    match (None: every sealed row matches); `unsealed` rows were written
    after the last seal (not yet part of the chain)."""

    sealed: int
    unsealed: int
    head_hash: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


_CHAIN = text(f"""
SELECT s.position, s.audit_id, s.hash, s.horizon, a.seq, a.txid,
       CASE WHEN a.id IS NOT NULL THEN {CANONICAL_SQL} END AS body
FROM audit_seals s LEFT JOIN audit_logs a ON a.id = s.audit_id
ORDER BY s.position
""")

_UNSEALED = text("""
SELECT count(*) AS unsealed,
       (array_agg(a.id ORDER BY a.txid, a.seq)
            FILTER (WHERE a.txid < :horizon OR (a.txid, a.seq) < (:txid, :seq)))[1] AS misplaced
FROM audit_logs a
WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_id = a.id)
""")


def verify(session: Session) -> ChainReport:
    """Walk the chain from position 1, recompute every hash from the rows as
    stored now, and report the first row that does not match: a position
    missing from the chain, a sealed row that is gone, a row whose text or
    place changed, a row out of `(txid, seq)` order; then an unsealed row
    that belongs before the sealed head (inserted after its neighbours were
    sealed). Rows written after the last seal are counted as unsealed.
    Writes nothing; streams the chain, so memory stays flat."""
    digest, verified, head, horizon = GENESIS, 0, (-1, -1), -1
    problem = None
    rows = session.execute(_CHAIN.execution_options(yield_per=10_000))
    for link in rows:
        where = f"position {verified + 1}"
        if link.position != verified + 1:
            problem = f"{where} is missing: the chain jumps to {link.position}"
        elif link.body is None:
            problem = f"audit row {link.audit_id} ({where}) is missing"
        else:
            name = f"audit row {link.audit_id} (seq {link.seq}, {where})"
            digest = hashlib.sha256(digest + link.body.encode()).digest()
            if digest != link.hash:
                problem = f"{name} does not match its seal"
            elif (link.txid, link.seq) <= head or link.horizon < horizon:
                problem = f"{name} is out of order"
        if problem:
            break
        verified, head, horizon = verified + 1, (link.txid, link.seq), link.horizon
    rows.close()
    unsealed, misplaced = session.execute(_UNSEALED, {"horizon": horizon, "txid": head[0], "seq": head[1]}).one()
    if problem is None and misplaced is not None:
        problem = f"audit row {misplaced} is not sealed but belongs before the last sealed row (inserted afterwards)"
    return ChainReport(verified, unsealed, digest.hex() if verified and not problem else None, problem)


def record_verification(session: Session, report: ChainReport, *, clock: Clock) -> AuditVerification:
    """Keep `report` as the latest verification (for pages that show it)."""
    row = AuditVerification(
        checked_at=clock.now(),
        ok=report.ok,
        sealed=report.sealed,
        unsealed=report.unsealed,
        head_hash=report.head_hash,
        problem=report.problem,
    )
    session.add(row)
    session.flush()
    return row


def last_verification(session: Session) -> AuditVerification | None:
    """The latest recorded verification, or None if the log was never verified."""
    return session.scalar(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1))


def describe(report: ChainReport) -> str:
    """One line for people: what was verified, or what does not match."""
    if report.problem:
        return report.problem
    head = f", head {report.head_hash}" if report.head_hash else ""
    unsealed = f"{report.unsealed} unsealed (written since the last seal)"
    return f"verified: {report.sealed} sealed rows match{head}; {unsealed}"

