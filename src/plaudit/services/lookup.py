"""Loading one row by id, the two ways the people services need it."""

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.errors import NotFound

M = TypeVar("M")


def get_or_not_found(session: Session, model: type[M], entity_id: uuid.UUID, what: str) -> M:
    """The row with this id, or `not_found` ("<what> <id> not found")."""
    entity = session.get(model, entity_id)
    if entity is None:
        raise NotFound(f"{what} {entity_id} not found")
    return entity


def locked_for_update(session: Session, model: Any, entity_id: uuid.UUID) -> Any:
    """The row with this id read afresh and locked FOR NO KEY UPDATE (writers of
    the row serialize; inserts that only reference it do not wait), or None."""
    return session.execute(
        select(model).where(model.id == entity_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
