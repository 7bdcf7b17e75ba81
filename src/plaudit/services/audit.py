"""The audit writer: one row per changed entity, in the caller's transaction.

`record` (or, on a hot path, `creation_cte` inside the creating statement)
is the only way rows reach `audit_logs`. Because it runs in the same
session as the change, a rollback takes the audit row with it, and a failed
audit insert fails the change. A change that changes nothing writes nothing.

`add_and_record`, `change_and_record` and `delete_and_record` are the common
shapes around it (insert an entity / set some of its fields / delete it,
flush, write the row).
"""

import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import CTE, ColumnElement, Text, Uuid, and_, bindparam, insert, literal_column, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, with_expression

from plaudit import paging
from plaudit.errors import Forbidden, ValidationFailed
from plaudit.models import Approval, AuditLog, Nomination, User
from plaudit.models.enums import Role

# Never written to a payload, whatever a caller passes.
SECRET_FIELDS = frozenset({"token", "token_hash", "secret"})

# Every action an audit row may have (DOMAIN.md "Audit log", and the ones
# added since): the `action` filter refuses anything else, and a test keeps
# this list equal to the actions the code writes.
ACTIONS = (
    "user.create", "user.update", "user.password_link", "user.password_set", "user.password_change",
    "user.sign_in_locked", "team.create", "team.update", "token.create", "token.revoke",
    "cycle.create", "cycle.update", "cycle.delete", "cycle.publish", "cycle.finalize", "cycle.archive",
    "criterion.create", "criterion.update", "criterion.delete", "criteria.replace",
    "nomination.create", "nomination.update", "nomination.withdraw", "approval.submit",
    "people_import.apply",
)


def to_json(value: Any) -> Any:
    """A JSON-ready copy: UUIDs and decimals as strings, datetimes as UTC ISO 8601."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return value


def actor_id_of(actor: User | None) -> uuid.UUID | None:
    """The `actor_id` of an audit row: the acting user's id, None for the command line."""
    return actor.id if actor is not None else None


def snapshot(entity: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of a model instance, JSON-ready, secrets left out."""
    return {f: to_json(getattr(entity, f)) for f in fields if f not in SECRET_FIELDS}


# Built once: every change in the system goes through here, so the statement
# should hit SQLAlchemy's compiled cache rather than be rebuilt per call.
_INSERT = insert(AuditLog.__table__).values(
    {c: bindparam(c) for c in ("id", "actor_id", "action", "entity_type", "entity_id", "payload", "request_id")}
)


def payload_of(
    before: dict[str, Any] | None, after: dict[str, Any] | None, extra: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The payload of an audit row, or None when there is nothing to record.

    - creation: `after` only -> `{"after": after}`;
    - update: both -> `{"before", "after"}` holding only the fields that differ
      (None when nothing differs and `extra` is empty);
    - deletion: `before` only -> `{"before": before}`.
    `extra` is merged in (e.g. `nomination_status` for approvals). Values are
    made JSON-ready; secrets are dropped.
    """
    before = _clean(before)
    after = _clean(after)
    payload: dict[str, Any] = {}
    if before is not None and after is not None:
        changed = [k for k in {**before, **after} if before.get(k) != after.get(k)]
        if not changed and not extra:
            return None
        payload = {
            "before": {k: before.get(k) for k in changed},
            "after": {k: after.get(k) for k in changed},
        }
    elif after is not None:
        payload = {"after": after}
    elif before is not None:
        payload = {"before": before}
    if extra:
        payload.update(to_json(extra))
    return payload


def record(
    session: Session,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Append one audit row (payload: `payload_of`); return whether one was
    written. The request id comes from `session.info["request_id"]`, set by the API.
    """
    payload = payload_of(before, after, extra)
    if payload is None:
        return False
    session.connection().execute(
        _INSERT,
        {
            "id": uuid.uuid4(),
            "actor_id": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "payload": payload,
            "request_id": session.info.get("request_id"),
        },
    )
    return True


def creation_cte(new_rows: CTE) -> CTE:
    """An `INSERT INTO audit_logs ... SELECT ... FROM new_rows` to attach to the
    statement that creates an entity (`new_rows`: an INSERT ... RETURNING id
    as a CTE): the creation and its audit row in one statement, one round
    trip, and no audit row when the insert inserted nothing (ON CONFLICT DO
    NOTHING). For hot paths; bind it with `creation_params`."""
    values = select(
        bindparam("audit_id", type_=Uuid),
        bindparam("audit_actor_id", type_=Uuid),
        bindparam("audit_action", type_=Text),
        bindparam("audit_entity_type", type_=Text),
        new_rows.c.id,
        bindparam("audit_payload", type_=JSONB),
        bindparam("audit_request_id", type_=Text),
    ).select_from(new_rows)
    columns = ["id", "actor_id", "action", "entity_type", "entity_id", "payload", "request_id"]
    return insert(AuditLog.__table__).from_select(columns, values).cte("audit_row")


def creation_params(
    session: Session, *, actor_id: uuid.UUID | None, action: str, entity_type: str, after: dict[str, Any]
) -> dict[str, Any]:
    """The parameters of a `creation_cte`: the same row `record` would write."""
    return {
        "audit_id": uuid.uuid4(),
        "audit_actor_id": actor_id,
        "audit_action": action,
        "audit_entity_type": entity_type,
        "audit_payload": payload_of(None, after),
        "audit_request_id": session.info.get("request_id"),
    }


def add_and_record(
    session: Session,
    actor: User | None,
    entity: Any,
    *,
    action: str,
    entity_type: str,
    fields: tuple[str, ...],
    guard: AbstractContextManager[Any] | None = None,
) -> None:
    """Insert `entity` (flushed; inside `guard` when given, e.g. a
    `validation.unique_guard`) and write its `action` row, `after` = `fields`."""
    with guard if guard is not None else nullcontext():
        session.add(entity)
    session.flush()
    record(
        session,
        actor_id=actor_id_of(actor),
        action=action,
        entity_type=entity_type,
        entity_id=entity.id,
        after=snapshot(entity, fields),
    )


def change_and_record(
    session: Session,
    actor: User | None,
    entity: Any,
    changes: Mapping[str, Any],
    *,
    action: str,
    entity_type: str,
    fields: tuple[str, ...],
    guard: AbstractContextManager[Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Set `changes` on `entity` (flushed; inside `guard` when given) and write
    its `action` row with `fields` before and after (the payload keeps only
    the fields that differ; nothing is written when none does), plus `extra`."""
    before = snapshot(entity, fields)
    with guard if guard is not None else nullcontext():
        for field, value in changes.items():
            setattr(entity, field, value)
    session.flush()
    record(
        session,
        actor_id=actor_id_of(actor),
        action=action,
        entity_type=entity_type,
        entity_id=entity.id,
        before=before,
        after=snapshot(entity, fields),
        extra=extra,
    )


def delete_and_record(
    session: Session, actor: User | None, entity: Any, before: dict[str, Any], *, action: str, entity_type: str
) -> None:
    """Delete `entity` (flushed) and write its `action` row with `before`
    (what was deleted: usually `snapshot(entity, FIELDS)`, plus anything
    that went with it)."""
    entity_id = entity.id
    session.delete(entity)
    session.flush()
    record(
        session,
        actor_id=actor_id_of(actor),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
    )


def _clean(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: to_json(v) for k, v in data.items() if k not in SECRET_FIELDS}


def _not_about(reader: User) -> list[ColumnElement[bool]]:
    """Being the nominee wins over every role (DOMAIN.md): an admin reading
    the log does not see the rows of nominations about them, nor of their
    approvals (found by the approvals table, so rows written before approval
    rows carried `nomination_id` are left out too)."""
    about = select(Nomination.id).where(Nomination.nominee_id == reader.id)
    their_approvals = select(Approval.id).join(Nomination, Nomination.id == Approval.nomination_id).where(
        Nomination.nominee_id == reader.id
    )
    return [
        ~and_(AuditLog.entity_type == "nomination", AuditLog.entity_id.in_(about)),
        ~and_(AuditLog.entity_type == "approval", AuditLog.entity_id.in_(their_approvals)),
    ]


# `payload ->> 'nomination_id'` with the key as a literal, so the statement
# matches the expression index `ix_audit_logs_payload_nomination_id` also as
# a prepared statement's generic plan (a bound key would not).
PAYLOAD_NOMINATION_ID = AuditLog.payload.op("->>")(literal_column("'nomination_id'"))


def list_audit_logs(
    session: Session,
    actor: User | None,
    *,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    nomination_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
) -> paging.Page[AuditLog]:
    """Audit rows with their actor's name, newest first (`seq` descending:
    insertion order, stable even within one transaction), keyset-paged.
    Admins only (`forbidden`).

    Filters combine with AND; `since` is inclusive and `until` exclusive, both
    on `occurred_at`. An empty or reversed time range (`since >= until`) is a
    `validation_error` rather than a silently empty page, and so is an
    `action` that is none of `ACTIONS` (the message lists them).
    `nomination_id` is a nomination's whole story: its own rows and its
    approvals' rows (which carry `nomination_id` in their payload; both
    through an index). A reader never sees the rows of nominations about
    them or of their approvals (`_not_about`).
    """
    if actor is not None and actor.role != Role.admin:
        raise Forbidden("only admins may read the audit log")
    if action is not None and action not in ACTIONS:
        raise ValidationFailed(
            f"unknown action {action!r}; the actions are {', '.join(ACTIONS)}",
            errors=[{"loc": ["query", "action"], "msg": f"must be one of {', '.join(ACTIONS)}"}],
        )
    if since is not None and until is not None and since >= until:
        raise ValidationFailed(
            "since must be earlier than until",
            errors=[{"loc": ["query", "until"], "msg": "must be later than since"}],
        )
    stmt = (
        select(AuditLog)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .options(with_expression(AuditLog.actor_name, User.display_name))
    )
    if actor is not None:
        stmt = stmt.where(*_not_about(actor))
    if entity_type is not None:
        stmt = stmt.where(AuditLog.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if nomination_id is not None:
        stmt = stmt.where(
            or_(
                and_(AuditLog.entity_type == "nomination", AuditLog.entity_id == nomination_id),
                PAYLOAD_NOMINATION_ID == str(nomination_id),
            )
        )
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    if since is not None:
        stmt = stmt.where(AuditLog.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.occurred_at < until)
    return paging.keyset_page(session, stmt, [paging.desc(AuditLog.seq)], limit=limit, cursor=cursor)
