"""The closed vocabularies of the domain, as string enums stored as text + CHECK."""

from enum import StrEnum


class Role(StrEnum):
    employee = "employee"
    team_lead = "team_lead"
    manager = "manager"
    admin = "admin"


class CycleStatus(StrEnum):
    draft = "draft"
    published = "published"
    finalized = "finalized"
    archived = "archived"


class NominationStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"


def sql_in(column: str, values: type[StrEnum]) -> str:
    """`column IN ('a', 'b')` for a CHECK constraint over an enum's values."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"
