"""Domain errors: a stable machine-readable code and a human message, no HTTP.

The API maps codes to statuses in one table (`plaudit.api.errors`); the CLI
prints the same codes.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotApprover(DomainError):
    code = "not_approver"


class ConflictOfInterest(DomainError):
    code = "conflict_of_interest"


class NotFound(DomainError):
    code = "not_found"


class CycleState(DomainError):
    code = "cycle_state"


class WindowClosed(DomainError):
    code = "window_closed"


class DuplicateNomination(DomainError):
    code = "duplicate_nomination"


class QuotaExceeded(DomainError):
    code = "quota_exceeded"


class NominationState(DomainError):
    code = "nomination_state"


class WeightsInvalid(DomainError):
    code = "weights_invalid"


class ApprovalsOpen(DomainError):
    code = "approvals_open"


class NotFinalized(DomainError):
    code = "not_finalized"


class DuplicateName(DomainError):
    code = "duplicate_name"


class ValidationFailed(DomainError):
    code = "validation_error"


class InvalidWindows(DomainError):
    code = "invalid_windows"


class InvalidNominee(DomainError):
    code = "invalid_nominee"


class SelfNomination(DomainError):
    code = "self_nomination"


class IneligibleNominee(DomainError):
    code = "ineligible_nominee"


class InvalidRatings(DomainError):
    code = "invalid_ratings"


class ImportInvalid(DomainError):
    """A people import has bad rows; `errors` lists each as `{line, column, msg}`."""

    code = "import_invalid"


class DatabaseUnavailable(DomainError):
    """The database cannot serve now: unreachable, or a lock or statement
    timeout. The API turns the driver's errors into it (503, `Retry-After`)."""

    code = "database_unavailable"


ALL_ERRORS: tuple[type[DomainError], ...] = tuple(DomainError.__subclasses__())
