"""The audit log as read by admins (API.md "Objects": AuditEntry)."""

import uuid
from datetime import datetime
from typing import Any

from plaudit.schemas.common import Out


class AuditEntry(Out):
    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    action: str
    entity_type: str
    entity_id: uuid.UUID
    payload: dict[str, Any]
    request_id: str | None
