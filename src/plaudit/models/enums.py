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


class ScoreNormalization(StrEnum):
    """How ratings enter the scores (DOMAIN.md "Normalisation")."""

    none = "none"
    zscore = "zscore"


class TieBreak(StrEnum):
    """What puts a ranked nominee below the one listed before them."""

    score = "score"
    approved_nominations = "approved_nominations"
    name = "name"


def sql_in(column: str, values: type[StrEnum]) -> str:
    """`column IN ('a', 'b')` for a CHECK constraint over an enum's values."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"
