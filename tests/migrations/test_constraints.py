"""The database's own guarantees, proven one by one against the migrated schema.

Services check first for a friendly error; these constraints are what still
holds under concurrency or when someone writes SQL by hand. Each case makes
one violating write inside a SAVEPOINT and expects an IntegrityError naming
the constraint.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import CheckConstraint, UniqueConstraint, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from plaudit.models import (
    ApiToken,
    Approval,
    ApprovalRating,
    AuditLog,
    Base,
    Credential,
    Criterion,
    Cycle,
    CycleResult,
    Nomination,
    Notification,
    PasswordLink,
    Team,
    User,
    WebSession,
)
from plaudit.services import audit
from tests.conftest import NOW
from tests.factories import (
    make_approval,
    make_criterion,
    make_cycle,
    make_nomination,
    make_team,
    make_user,
)

DAY = timedelta(days=1)


@dataclass
class World:
    admin: User
    alice: User
    bob: User
    team: Team
    cycle: Cycle
    criterion: Criterion
    nomination: Nomination  # alice nominates bob
    approval: Approval  # admin approves it


@pytest.fixture
def world(session: Session) -> World:
    admin = make_user(session, role="admin")
    team = make_team(session, name="Platform", manager=admin)
    alice = make_user(session, team=team)
    bob = make_user(session, team=team)
    cycle = make_cycle(session, name="Spring Awards")
    criterion = make_criterion(session, cycle, name="Impact")
    nomination = make_nomination(session, cycle, alice, bob)
    approval = make_approval(session, nomination, admin, ratings={criterion: 4})
    return World(admin, alice, bob, team, cycle, criterion, nomination, approval)


def _add(session: Session, obj: Any) -> None:
    session.add(obj)
    session.flush()


def _sql(session: Session, sql: str, **params: Any) -> None:
    session.execute(text(sql), params)


def _cycle(session: Session, w: World, **fields: Any) -> None:
    make_cycle(session, status="draft", **fields)


def _windows(n_open: int, n_close: int, a_open: int, a_close: int) -> dict[str, Any]:
    return dict(
        nomination_opens_at=NOW + n_open * DAY,
        nomination_closes_at=NOW + n_close * DAY,
        approval_opens_at=NOW + a_open * DAY,
        approval_closes_at=NOW + a_close * DAY,
    )


def _nomination(session: Session, w: World, **fields: Any) -> None:
    values = dict(cycle_id=w.cycle.id, nominator_id=w.bob.id, nominee_id=w.alice.id,
                  justification="A perfectly fine justification.")
    values.update(fields)
    _add(session, Nomination(**values))


def _approval(session: Session, w: World, **fields: Any) -> None:
    values = dict(nomination_id=w.nomination.id, approver_id=w.bob.id, decision="approve")
    values.update(fields)
    _add(session, Approval(**values))


def _seal(session: Session, w: World, **fields: Any):
    """An audit_seals row (by default for a new audit row); returns its audit_id."""
    if "audit_id" not in fields:
        audit.record(session, actor_id=None, action="user.update", entity_type="user", entity_id=w.alice.id,
                     after={"n": str(fields)})
        fields["audit_id"] = session.scalar(text("SELECT id FROM audit_logs ORDER BY seq DESC LIMIT 1"))
    values = {"position": 1, "hash": bytes(32), "horizon": 0, **fields}
    _sql(session, "INSERT INTO audit_seals (position, audit_id, hash, horizon) VALUES (:position, :audit_id, :hash, "
                  ":horizon)", **values)
    return values["audit_id"]


def _result(session: Session, w: World, **fields: Any) -> None:
    values = dict(cycle_id=w.cycle.id, nominee_id=w.bob.id, nominee_name="Bob", team_id=w.team.id, rank=1,
                  score=Decimal("4.000000"), approved_nominations=1, is_winner=True, criteria=[])
    values.update(fields)
    _add(session, CycleResult(**values))


def _token(session: Session, w: World, **fields: Any) -> None:
    values = dict(user_id=w.alice.id, name="laptop", token_hash=b"\x01" * 32)
    values.update(fields)
    _add(session, ApiToken(**values))


def _notification(session: Session, w: World, **fields: Any) -> None:
    values = dict(recipient_id=w.alice.id, kind="cycle_published", subject_id=w.cycle.id, title="t", body="b",
                  link="/app/", email_status="not_sent")
    _add(session, Notification(**{**values, **fields}))


Violation = Callable[[Session, World], None]

# (constraint name, case id, the violating write)
CASES: list[tuple[str, str, Violation]] = [
    # users
    ("ck_users_email_lower", "email-upper-case", lambda s, w: make_user(s, email="Carol@Example.org")),
    ("ck_users_email_lower", "email-without-at", lambda s, w: make_user(s, email="carol.example.org")),
    ("ck_users_email_length", "email-too-long", lambda s, w: make_user(s, email="c" * 320 + "@x.org")),
    ("uq_users_email", "duplicate-email", lambda s, w: make_user(s, email=w.alice.email)),
    ("ck_users_display_name_length", "display-name-empty",
     lambda s, w: _add(s, User(email="carol@example.org", display_name="", role="employee"))),
    ("ck_users_display_name_length", "display-name-too-long", lambda s, w: make_user(s, display_name="x" * 201)),
    ("ck_users_role", "unknown-role", lambda s, w: make_user(s, role="ceo")),
    # teams
    ("uq_teams_lower_name", "duplicate-team-name-other-case", lambda s, w: make_team(s, name="PLATFORM")),
    ("ck_teams_name_length", "team-name-empty", lambda s, w: _add(s, Team(name=""))),
    # tokens
    ("ck_api_tokens_token_hash_sha256", "token-hash-31-bytes", lambda s, w: _token(s, w, token_hash=b"\x02" * 31)),
    ("ck_api_tokens_token_hash_sha256", "token-hash-33-bytes", lambda s, w: _token(s, w, token_hash=b"\x02" * 33)),
    ("uq_api_tokens_token_hash", "duplicate-token-hash",
     lambda s, w: (_token(s, w), _token(s, w, user_id=w.bob.id))),
    ("ck_api_tokens_name_length", "token-name-empty", lambda s, w: _token(s, w, name="")),
    # audit log
    ("uq_audit_logs_seq", "duplicate-audit-seq",
     lambda s, w: [
         _sql(s, "INSERT INTO audit_logs (seq, action, entity_type, entity_id, payload) OVERRIDING SYSTEM VALUE "
                 "VALUES (-1, 'user.create', 'user', gen_random_uuid(), '{}')")
         for _ in range(2)
     ]),
    ("ck_audit_seals_position_positive", "seal-position-0", lambda s, w: _seal(s, w, position=0)),
    ("ck_audit_seals_hash_length", "seal-hash-31-bytes", lambda s, w: _seal(s, w, hash=b"\x01" * 31)),
    ("uq_audit_seals_audit_id", "a-row-sealed-twice",
     lambda s, w: (_seal(s, w, position=1), _seal(s, w, position=2, audit_id=_seal(s, w, position=3)))),
    # cycles
    ("uq_cycles_lower_name", "duplicate-cycle-name-other-case", lambda s, w: _cycle(s, w, name="spring AWARDS")),
    ("ck_cycles_name_length", "cycle-name-empty", lambda s, w: _cycle(s, w, name="")),
    ("ck_cycles_description_length", "cycle-description-too-long", lambda s, w: _cycle(s, w, description="d" * 5001)),
    ("ck_cycles_windows", "nomination-opens-not-before-close", lambda s, w: _cycle(s, w, **_windows(5, 5, 5, 6))),
    ("ck_cycles_windows", "approval-opens-not-before-close", lambda s, w: _cycle(s, w, **_windows(0, 5, 6, 6))),
    ("ck_cycles_windows", "approval-opens-before-nominations", lambda s, w: _cycle(s, w, **_windows(1, 5, 0, 6))),
    ("ck_cycles_windows", "approval-closes-before-nominations", lambda s, w: _cycle(s, w, **_windows(0, 5, 1, 4))),
    ("ck_cycles_rating_scale", "rating-min-negative", lambda s, w: _cycle(s, w, rating_min=-1)),
    ("ck_cycles_rating_scale", "rating-min-equals-max", lambda s, w: _cycle(s, w, rating_min=5, rating_max=5)),
    ("ck_cycles_rating_scale", "rating-max-over-100", lambda s, w: _cycle(s, w, rating_max=101)),
    ("ck_cycles_required_approvals", "required-approvals-0", lambda s, w: _cycle(s, w, required_approvals=0)),
    ("ck_cycles_required_approvals", "required-approvals-11", lambda s, w: _cycle(s, w, required_approvals=11)),
    ("ck_cycles_max_nominations", "max-nominations-0", lambda s, w: _cycle(s, w, max_nominations_per_nominator=0)),
    ("ck_cycles_award_slots", "award-slots-0", lambda s, w: _cycle(s, w, award_slots=0)),
    ("ck_cycles_award_slots", "award-slots-1001", lambda s, w: _cycle(s, w, award_slots=1001)),
    ("ck_cycles_winner_cooldown_cycles", "cooldown-negative", lambda s, w: _cycle(s, w, winner_cooldown_cycles=-1)),
    ("ck_cycles_winner_cooldown_cycles", "cooldown-11", lambda s, w: _cycle(s, w, winner_cooldown_cycles=11)),
    ("ck_cycles_score_normalization", "normalization-unknown",
     lambda s, w: _cycle(s, w, score_normalization="minmax")),
    ("ck_cycles_nominator_roles", "nominator-roles-empty", lambda s, w: _cycle(s, w, nominator_roles=[])),
    ("ck_cycles_nominator_roles", "nominator-roles-unknown",
     lambda s, w: _cycle(s, w, nominator_roles=["employee", "ceo"])),
    ("ck_cycles_status", "cycle-status-unknown", lambda s, w: make_cycle(s, status="open")),
    ("ck_cycles_published_at", "draft-with-published-at", lambda s, w: _cycle(s, w, published_at=NOW)),
    ("ck_cycles_published_at", "published-without-published-at",
     lambda s, w: make_cycle(s, status="published", published_at=None)),
    ("ck_cycles_finalized_at", "finalized-without-finalized-at",
     lambda s, w: make_cycle(s, status="finalized", finalized_at=None)),
    ("ck_cycles_archived_at", "archived-without-archived-at",
     lambda s, w: make_cycle(s, status="archived", archived_at=None)),
    ("ck_cycles_inputs_digest_hex", "inputs-digest-upper-case",
     lambda s, w: make_cycle(s, status="finalized", inputs_digest="A" * 64)),
    # criteria
    ("ck_criteria_weight_range", "weight-0", lambda s, w: make_criterion(s, w.cycle, weight="0")),
    ("ck_criteria_weight_range", "weight-negative", lambda s, w: make_criterion(s, w.cycle, weight="-0.5")),
    ("ck_criteria_weight_range", "weight-over-1", lambda s, w: make_criterion(s, w.cycle, weight="1.0001")),
    ("uq_criteria_cycle_id_lower_name", "duplicate-criterion-name-other-case",
     lambda s, w: make_criterion(s, w.cycle, name="IMPACT")),
    ("ck_criteria_name_length", "criterion-name-too-long", lambda s, w: make_criterion(s, w.cycle, name="n" * 101)),
    ("ck_criteria_description_length", "criterion-description-too-long",
     lambda s, w: make_criterion(s, w.cycle, description="d" * 2001)),
    # nominations
    ("ck_nominations_not_self", "nominee-is-nominator", lambda s, w: _nomination(s, w, nominee_id=w.bob.id)),
    ("ck_nominations_justification_length", "justification-9-chars",
     lambda s, w: _nomination(s, w, justification="123456789")),
    ("ck_nominations_justification_length", "justification-short-after-trim",
     lambda s, w: _nomination(s, w, justification="   short        ")),
    ("ck_nominations_justification_length", "justification-5001-chars",
     lambda s, w: _nomination(s, w, justification="j" * 5001)),
    ("ck_nominations_status", "nomination-status-unknown", lambda s, w: _nomination(s, w, status="maybe")),
    ("ck_nominations_withdrawn_at", "withdrawn-without-withdrawn-at",
     lambda s, w: _nomination(s, w, status="withdrawn", withdrawn_at=None)),
    ("ck_nominations_withdrawn_at", "pending-with-withdrawn-at", lambda s, w: _nomination(s, w, withdrawn_at=NOW)),
    ("uq_nominations_live_pair", "second-live-nomination-of-the-pair",
     lambda s, w: _nomination(s, w, nominator_id=w.alice.id, nominee_id=w.bob.id, status="approved")),
    # approvals
    ("uq_approvals_nomination_id_approver_id", "second-approval-by-the-same-approver",
     lambda s, w: _approval(s, w, approver_id=w.admin.id)),
    ("ck_approvals_reject_has_comment", "reject-without-comment", lambda s, w: _approval(s, w, decision="reject")),
    ("ck_approvals_reject_has_comment", "reject-with-blank-comment",
     lambda s, w: _approval(s, w, decision="reject", comment="    ")),
    ("ck_approvals_decision", "decision-unknown", lambda s, w: _approval(s, w, decision="abstain")),
    ("ck_approvals_comment_length", "comment-too-long", lambda s, w: _approval(s, w, comment="c" * 2001)),
    # ratings
    ("pk_approval_ratings", "second-rating-for-the-criterion",
     lambda s, w: _add(s, ApprovalRating(approval_id=w.approval.id, criterion_id=w.criterion.id, value=3))),
    ("ck_approval_ratings_value_range", "rating-negative",
     lambda s, w: _add(s, ApprovalRating(approval_id=w.approval.id,
                                         criterion_id=make_criterion(s, w.cycle, weight="0.5").id, value=-1))),
    ("ck_approval_ratings_value_range", "rating-over-100",
     lambda s, w: _add(s, ApprovalRating(approval_id=w.approval.id,
                                         criterion_id=make_criterion(s, w.cycle, weight="0.5").id, value=101))),
    # results
    ("uq_cycle_results_nominee_id_cycle_id", "second-result-for-the-nominee",
     lambda s, w: (_result(s, w), _result(s, w, rank=2))),
    ("ck_cycle_results_rank_positive", "rank-0", lambda s, w: _result(s, w, rank=0)),
    ("ck_cycle_results_approved_nominations_positive", "approved-nominations-0",
     lambda s, w: _result(s, w, approved_nominations=0)),
    ("ck_cycle_results_criteria_array", "criteria-not-an-array", lambda s, w: _result(s, w, criteria={"a": 1})),
    # notifications
    ("ck_notifications_kind", "kind-unknown", lambda s, w: _notification(s, w, kind="gossip")),
    ("ck_notifications_email_status", "email-status-unknown", lambda s, w: _notification(s, w, email_status="lost")),
    ("ck_notifications_attempts_non_negative", "attempts-negative", lambda s, w: _notification(s, w, attempts=-1)),
    ("uq_notifications_event_recipient", "second-notification-of-the-event",
     lambda s, w: (_notification(s, w), _notification(s, w))),
    ("ck_cycle_results_spread_non_negative", "spread-negative", lambda s, w: _result(s, w, spread=-1)),
    ("ck_cycle_results_tie_break", "tie-break-unknown", lambda s, w: _result(s, w, tie_break="coin")),
    # sign-in
    ("ck_credentials_argon2id", "password-not-argon2id",
     lambda s, w: _add(s, Credential(user_id=w.alice.id, password_hash="plain text", changed_at=NOW))),
    ("ck_password_links_purpose", "link-purpose-unknown", lambda s, w: _link(s, w, purpose="forever")),
    ("ck_password_links_token_hash_sha256", "link-hash-not-sha256", lambda s, w: _link(s, w, token_hash=b"x")),
    ("uq_password_links_token_hash", "second-link-with-the-hash", lambda s, w: (_link(s, w), _link(s, w))),
    ("ck_web_sessions_token_hash_sha256", "session-hash-not-sha256", lambda s, w: _web_session(s, w, b"x")),
    ("uq_web_sessions_token_hash", "second-session-with-the-hash",
     lambda s, w: (_web_session(s, w), _web_session(s, w))),
]


def _link(session: Session, w: World, **values: Any) -> None:
    _add(session, PasswordLink(**{"user_id": w.alice.id, "token_hash": b"h" * 32, "purpose": "invite",
                                  "expires_at": NOW, **values}))


def _web_session(session: Session, w: World, token_hash: bytes = b"s" * 32) -> None:
    _add(session, WebSession(user_id=w.alice.id, token_hash=token_hash, started_at=NOW, last_seen_at=NOW))


@pytest.mark.parametrize(("constraint", "violate"), [pytest.param(c, v, id=f"{c}:{i}") for c, i, v in CASES])
def test_database_rejects_the_violation(session: Session, world: World, constraint: str, violate: Violation):
    with pytest.raises(IntegrityError) as caught:
        with session.begin_nested():
            violate(session, world)
            session.flush()
    assert constraint in str(caught.value.orig)
    # The savepoint took only the bad write with it: the session goes on.
    assert session.get(User, world.alice.id) is not None


def test_every_named_constraint_has_a_case():
    """Adding a constraint without a test here fails this test."""
    names = set()
    for table in Base.metadata.tables.values():
        names |= {c.name for c in table.constraints if isinstance(c, (CheckConstraint, UniqueConstraint))}
        names |= {i.name for i in table.indexes if i.unique}
    assert names - {c for c, _, _ in CASES} == set()


def test_withdrawn_nomination_frees_the_pair(session: Session, world: World):
    with session.begin_nested():
        world.nomination.status = "withdrawn"
        world.nomination.withdrawn_at = NOW
        session.flush()
    again = make_nomination(session, world.cycle, world.alice, world.bob)
    # ...and a pair may hold any number of withdrawn ones beside the live one.
    again.status, again.withdrawn_at = "withdrawn", NOW
    session.flush()
    make_nomination(session, world.cycle, world.alice, world.bob)
    assert session.query(Nomination).filter_by(nominator_id=world.alice.id, nominee_id=world.bob.id).count() == 3


def test_the_same_pair_may_be_nominated_in_another_cycle(session: Session, world: World):
    other = make_cycle(session)
    make_nomination(session, other, world.alice, world.bob)


def test_criterion_names_are_unique_per_cycle_only(session: Session, world: World):
    make_criterion(session, make_cycle(session), name="Impact")


def test_boundary_values_are_accepted(session: Session, world: World):
    make_cycle(session, status="draft", rating_min=0, rating_max=100, required_approvals=10,
               max_nominations_per_nominator=1, award_slots=1000, nominator_roles=["admin"],
               winner_cooldown_cycles=10, score_normalization="zscore", **_windows(0, 5, 0, 5))
    make_cycle(session, status="draft", rating_min=0, rating_max=1, required_approvals=1, award_slots=1,
               winner_cooldown_cycles=0, score_normalization="none")
    make_criterion(session, world.cycle, weight="1")
    make_criterion(session, world.cycle, weight="0.0001")
    make_nomination(session, world.cycle, world.bob, world.alice, justification="  " + "x" * 10 + "  ")
    make_approval(session, world.nomination, world.bob, decision="reject", comment="no")


@pytest.mark.parametrize(
    "violate",
    [
        pytest.param(lambda s, w: _nomination(s, w, justification="\n\n  short \t\n\n"), id="justification"),
        pytest.param(lambda s, w: _approval(s, w, decision="reject", comment="\n\t"), id="reject-comment"),
    ],
)
def test_database_trims_all_whitespace_not_only_spaces(session: Session, world: World, violate: Violation):
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            violate(session, world)


# --- the audit log is append-only -------------------------------------------


@pytest.fixture
def audit_row(session: Session, world: World) -> AuditLog:
    audit.record(session, actor_id=world.admin.id, action="user.create", entity_type="user",
                 entity_id=world.alice.id, after={"email": world.alice.email})
    session.flush()
    row = session.query(AuditLog).filter_by(entity_id=world.alice.id).one()
    return row


@pytest.mark.parametrize(
    ("operation", "sql"),
    [
        ("UPDATE", "UPDATE audit_logs SET action = 'user.update' WHERE id = :id"),
        ("DELETE", "DELETE FROM audit_logs WHERE id = :id"),
        ("TRUNCATE", "TRUNCATE audit_logs"),
        # Truncating a table it refers to cascades to it: still refused.
        ("TRUNCATE", "TRUNCATE users CASCADE"),
    ],
)
def test_audit_log_refuses_changes(session: Session, audit_row: AuditLog, operation: str, sql: str):
    with pytest.raises(DBAPIError) as caught:
        with session.begin_nested():
            session.execute(text(sql), {"id": audit_row.id})
    assert f"audit_logs is append-only: {operation} refused" in str(caught.value.orig)
    session.expire_all()
    assert session.get(AuditLog, audit_row.id).action == "user.create"


@pytest.mark.parametrize("table", ["audit_seals", "audit_verifications"])
@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "TRUNCATE"])
def test_the_chain_and_the_verifications_refuse_changes(session: Session, world: World, table: str, operation: str):
    if table == "audit_seals":
        _seal(session, world, position=10**9)
    else:
        _sql(session, "INSERT INTO audit_verifications (ok, sealed, unsealed) VALUES (true, 0, 0)")
    sql = {"UPDATE": f"UPDATE {table} SET sealed_at = now()" if table == "audit_seals" else
           f"UPDATE {table} SET ok = false", "DELETE": f"DELETE FROM {table}", "TRUNCATE": f"TRUNCATE {table}"}
    with pytest.raises(DBAPIError) as caught:
        with session.begin_nested():
            session.execute(text(sql[operation]))
    assert f"{table} is append-only: {operation} refused" in str(caught.value.orig)


def test_audit_log_accepts_inserts(session: Session, audit_row: AuditLog):
    audit.record(session, actor_id=None, action="user.update", entity_type="user", entity_id=audit_row.entity_id,
                 before={"display_name": "a"}, after={"display_name": "b"})
    assert session.query(AuditLog).filter_by(entity_id=audit_row.entity_id).count() == 2
