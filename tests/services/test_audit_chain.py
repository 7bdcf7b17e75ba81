"""The audit hash chain on a really-committing database: sealing, then
tampering as a database superuser with the triggers off, which `verify`
must catch and name; and sealing among many concurrent writers."""

import random
import threading
import time
import uuid

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from plaudit.clock import FixedClock
from plaudit.models import AuditLog, AuditSeal
from plaudit.services import audit, audit_chain
from tests.conftest import NOW


def write(engine: Engine, n: int = 1) -> list[uuid.UUID]:
    """`n` audit rows, each in its own committed transaction; their ids."""
    ids = []
    for _ in range(n):
        with Session(engine) as s, s.begin():
            ids.append(_record(s))
    return ids


def _record(session: Session) -> uuid.UUID:
    entity = uuid.uuid4()
    audit.record(session, actor_id=None, action="user.update", entity_type="user", entity_id=entity,
                 before={"display_name": "a"}, after={"display_name": f"b {entity}"})
    return session.scalar(select(AuditLog.id).where(AuditLog.entity_id == entity))


def seal_everything(engine: Engine, deadline: float = 30) -> None:
    """Seal until no row is left unsealed (another session on the server may
    hold the horizon back for a moment)."""
    factory = sessionmaker(engine)
    stop = time.monotonic() + deadline
    while True:
        audit_chain.seal_pending(factory)
        with factory() as s:
            if s.scalar(select(func.count()).select_from(AuditLog)) == s.scalar(
                select(func.count()).select_from(AuditSeal)
            ):
                return
        assert time.monotonic() < stop, "rows stayed unsealed"
        time.sleep(0.05)


def verify(engine: Engine) -> audit_chain.ChainReport:
    with Session(engine) as s:
        return audit_chain.verify(s)


def tamper(engine: Engine, *statements: str, **params) -> None:
    """Run SQL as the tables' owner with the append-only triggers disabled,
    as someone with full access to the database could (re-enabled before the
    commit: nothing in the schema shows it afterwards)."""
    tables = ("audit_logs", "audit_seals")
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for sql in statements:
            conn.execute(text(sql), params)
        for table in tables:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def link(engine: Engine, position: int):
    with Session(engine) as s:
        return s.execute(
            select(AuditSeal.audit_id, AuditLog.seq, AuditLog.txid)
            .join(AuditLog, AuditLog.id == AuditSeal.audit_id)
            .where(AuditSeal.position == position)
        ).one()


@pytest.fixture
def sealed(committed_db: Engine) -> Engine:
    """Six rows written in six transactions, all sealed."""
    write(committed_db, 6)
    seal_everything(committed_db)
    return committed_db


def test_a_sealed_log_verifies_and_later_rows_are_counted_as_unsealed(sealed):
    write(sealed, 2)
    report = verify(sealed)
    assert (report.ok, report.sealed, report.unsealed) == (True, 6, 2)
    assert audit_chain.describe(report) == (
        f"verified: 6 sealed rows match, head {report.head_hash}; 2 unsealed (written since the last seal)"
    )
    seal_everything(sealed)
    assert (verify(sealed).sealed, verify(sealed).unsealed) == (8, 0)


def test_the_chain_is_in_txid_seq_order_and_links_every_hash(sealed):
    import hashlib

    with Session(sealed) as s:
        rows = s.execute(text(
            f"SELECT s.position, s.hash, a.txid, a.seq, {audit_chain.CANONICAL_SQL} AS body"
            " FROM audit_seals s JOIN audit_logs a ON a.id = s.audit_id ORDER BY s.position"
        )).all()
    assert [r.position for r in rows] == list(range(1, 7))
    assert [(r.txid, r.seq) for r in rows] == sorted((r.txid, r.seq) for r in rows)
    previous = bytes(32)
    for r in rows:
        previous = hashlib.sha256(previous + r.body.encode()).digest()
        assert r.hash == previous


def test_a_changed_payload_is_named(sealed):
    audit_id, seq, _ = link(sealed, 3)
    tamper(sealed, "UPDATE audit_logs SET payload = '{\"after\": {\"display_name\": \"x\"}}' WHERE id = :id",
           id=audit_id)
    report = verify(sealed)
    assert report.problem == f"audit row {audit_id} (seq {seq}, position 3) does not match its seal"
    assert (report.ok, report.sealed, report.head_hash) == (False, 2, None)


def test_a_deleted_row_is_named(sealed):
    audit_id, _, _ = link(sealed, 4)
    tamper(sealed, "DELETE FROM audit_logs WHERE id = :id", id=audit_id)
    assert verify(sealed).problem == f"audit row {audit_id} (position 4) is missing"


def test_a_deleted_row_with_its_seal_breaks_the_next_link(sealed):
    gone, _, _ = link(sealed, 4)
    after, seq, _ = link(sealed, 5)
    tamper(sealed, "DELETE FROM audit_seals WHERE audit_id = :id", "DELETE FROM audit_logs WHERE id = :id", id=gone)
    assert verify(sealed).problem == "position 4 is missing: the chain jumps to 5"
    # ...and closing the gap leaves the next row unable to match its seal.
    tamper(sealed, "UPDATE audit_seals SET position = position - 1 WHERE position > 4")
    assert verify(sealed).problem == f"audit row {after} (seq {seq}, position 4) does not match its seal"


def test_a_row_inserted_in_the_middle_is_named(sealed):
    """A forged row placed between sealed rows (the txid of the third): it is
    not sealed, yet nothing written later could sort before the sealed head."""
    _, _, txid = link(sealed, 3)
    forged = uuid.uuid4()
    tamper(
        sealed,
        "INSERT INTO audit_logs (id, seq, txid, occurred_at, action, entity_type, entity_id, payload)"
        " OVERRIDING SYSTEM VALUE VALUES (:id, 1000000, :txid, now() - interval '1 day', 'cycle.delete', 'cycle',"
        " gen_random_uuid(), '{}')",
        id=forged, txid=txid,
    )
    report = verify(sealed)
    assert report.problem == (
        f"audit row {forged} is not sealed but belongs before the last sealed row (inserted afterwards)"
    )


def test_a_row_inserted_into_the_chain_in_the_middle_is_named(sealed):
    """The forger also gives it a seal at position 3 and moves the rest down."""
    _, seq, txid = link(sealed, 3)
    forged = uuid.uuid4()
    tamper(
        sealed,
        "INSERT INTO audit_logs (id, seq, txid, action, entity_type, entity_id, payload)"
        " OVERRIDING SYSTEM VALUE VALUES (:id, 1000000, :txid, 'cycle.delete', 'cycle', gen_random_uuid(), '{}')",
        "UPDATE audit_seals SET position = position + 1000 WHERE position >= 3",
        "UPDATE audit_seals SET position = position - 999 WHERE position >= 1000",
        "INSERT INTO audit_seals (position, audit_id, hash, horizon) VALUES (3, :id, :hash, 0)",
        id=forged, txid=txid - 1, hash=bytes(32),
    )
    assert verify(sealed).problem == f"audit row {forged} (seq 1000000, position 3) does not match its seal"


def test_two_swapped_rows_are_named(sealed):
    """Swapped in the log (their contents) or in the chain (their places): the
    first of the two no longer matches its seal."""
    first, first_seq, _ = link(sealed, 2)
    second, _, _ = link(sealed, 5)
    tamper(
        sealed,
        "UPDATE audit_logs a SET payload = b.payload FROM audit_logs b"
        " WHERE (a.id, b.id) IN ((:first, :second), (:second, :first))",
        first=first, second=second,
    )
    assert verify(sealed).problem == f"audit row {first} (seq {first_seq}, position 2) does not match its seal"


def test_two_rows_swapped_in_the_chain_are_named(sealed):
    second, second_seq, _ = link(sealed, 5)
    tamper(
        sealed,
        "UPDATE audit_seals SET position = 1000000 WHERE position = 2",
        "UPDATE audit_seals SET position = 2 WHERE position = 5",
        "UPDATE audit_seals SET position = 5 WHERE position = 1000000",
    )
    assert verify(sealed).problem == f"audit row {second} (seq {second_seq}, position 2) does not match its seal"


def test_sealing_waits_for_a_transaction_that_is_still_open_then_keeps_its_order(committed_db):
    """A row of an open transaction is not sealed, nor any row of a
    transaction that started after it; once it commits, it takes its place
    before them."""
    late = Session(committed_db)
    late_id = _record(late)  # holds its transaction (and its txid) open
    early_rows = write(committed_db, 3)
    audit_chain.seal_pending(sessionmaker(committed_db))
    with Session(committed_db) as s:
        sealed_ids = set(s.scalars(select(AuditSeal.audit_id)))
    assert sealed_ids.isdisjoint({late_id, *early_rows})
    late.commit()
    late.close()
    seal_everything(committed_db)
    assert link(committed_db, 1).audit_id == late_id
    assert verify(committed_db).ok


def test_concurrent_writers_with_rollbacks_and_late_commits_leave_a_chain_without_gaps(committed_db):
    """12 writers, 15 transactions each: a third roll back, some hold their
    transaction open across several sealings before committing; a sealer
    runs all along. Every committed row ends up in the chain exactly once,
    positions 1..N, and the chain verifies."""
    factory = sessionmaker(committed_db)
    committed: list[uuid.UUID] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer(i: int) -> None:
        chance = random.Random(i)
        for _ in range(15):
            with Session(committed_db) as s:
                ids = [_record(s) for _ in range(chance.randint(1, 3))]
                if chance.random() < 0.2:
                    time.sleep(chance.uniform(0.05, 0.3))  # commits late: sealings run meanwhile
                if chance.random() < 1 / 3:
                    s.rollback()
                    continue
                s.commit()
            with lock:
                committed.extend(ids)

    def sealer() -> None:
        while not done.is_set():
            audit_chain.seal_pending(factory)
            time.sleep(0.01)

    sealing = threading.Thread(target=sealer)
    sealing.start()
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
        assert not t.is_alive()
    done.set()
    sealing.join(timeout=30)
    seal_everything(committed_db)

    with Session(committed_db) as s:
        chain = s.execute(select(AuditSeal.position, AuditSeal.audit_id).order_by(AuditSeal.position)).all()
    assert [p for p, _ in chain] == list(range(1, len(chain) + 1))
    assert sorted(a for _, a in chain) == sorted(committed)
    report = verify(committed_db)
    assert (report.ok, report.sealed, report.unsealed) == (True, len(committed), 0)


def test_a_verification_is_kept_and_the_last_one_is_read_back(sealed):
    with Session(sealed) as s, s.begin():
        assert audit_chain.last_verification(s) is None
        audit_chain.record_verification(s, audit_chain.verify(s), clock=FixedClock(NOW))
        broken = audit_chain.ChainReport(sealed=1, unsealed=0, head_hash=None, problem="audit row x is missing")
        audit_chain.record_verification(s, broken, clock=FixedClock(NOW))
    with Session(sealed) as s:
        last = audit_chain.last_verification(s)
        assert (last.ok, last.problem, last.checked_at) == (False, "audit row x is missing", NOW)
