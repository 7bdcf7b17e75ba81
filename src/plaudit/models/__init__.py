"""All tables; importing this package registers every model on Base.metadata."""

from plaudit.db.base import Base
from plaudit.models.audit import AuditLog, AuditSeal, AuditVerification
from plaudit.models.cycles import Criterion, Cycle
from plaudit.models.nominations import Approval, ApprovalRating, Nomination
from plaudit.models.notifications import Notification
from plaudit.models.people import ApiToken, Team, User
from plaudit.models.results import CycleResult
from plaudit.models.signin import Credential, PasswordLink, SignInFailure, WebSession

__all__ = [
    "ApiToken",
    "Approval",
    "ApprovalRating",
    "AuditLog",
    "AuditSeal",
    "AuditVerification",
    "Base",
    "Credential",
    "Criterion",
    "Cycle",
    "CycleResult",
    "Nomination",
    "Notification",
    "PasswordLink",
    "SignInFailure",
    "Team",
    "User",
    "WebSession",
]
