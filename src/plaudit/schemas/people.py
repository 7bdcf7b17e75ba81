"""People: users, teams and API tokens (API.md "Objects").

Request bodies are strict (`StrictBody`): an unknown or server-owned field
such as `id`, `is_active` on create, or `token_hash` is a 422. In update
bodies a field left out is unchanged; `team_id`/`manager_id` may be `null`
(clears it); the other fields may not be `null`.
"""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from plaudit.models.enums import Role
from plaudit.schemas.common import InputTime, Out, StrictBody
from plaudit.services.users import EMAIL_MAX, normalize_email
from plaudit.services.validation import NAME_MAX

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=EMAIL_MAX),
    AfterValidator(normalize_email),
    Field(examples=["ada@example.org"]),
]
"""An email address; stored trimmed and lower-case (RFC 5321 lengths: 64 before the @, 254 in all)."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
"""1-200 characters after trimming surrounding whitespace."""


class User(Out):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    team_id: uuid.UUID | None
    is_active: bool
    created_at: datetime


class UserCreate(StrictBody):
    email: Email
    display_name: Name
    role: Role
    team_id: uuid.UUID | None = None


class UserUpdate(StrictBody):
    display_name: Name = None  # type: ignore[assignment]  # left out: unchanged; null: 422
    role: Role = None  # type: ignore[assignment]
    team_id: uuid.UUID | None = None
    is_active: StrictBool = None  # type: ignore[assignment]


class Team(Out):
    id: uuid.UUID
    name: str
    manager_id: uuid.UUID | None
    created_at: datetime


class TeamCreate(StrictBody):
    name: Name
    manager_id: uuid.UUID | None = None


class TeamUpdate(StrictBody):
    name: Name = None  # type: ignore[assignment]  # left out: unchanged; null: 422
    manager_id: uuid.UUID | None = None


class Token(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(Token):
    token: str = Field(
        description="The secret, shown only in this response. Send it as `Authorization: Bearer <token>`."
    )


class TokenCreate(StrictBody):
    name: Name
    expires_at: InputTime | None = None
