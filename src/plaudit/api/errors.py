"""The one table from error codes to HTTP statuses, and the problem+json handlers.

Every error response is RFC 9457 `application/problem+json`:
`{type, title, status, detail, code}` plus `errors` for `validation_error`.
"""

import logging
from http import HTTPStatus
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from plaudit.errors import DatabaseUnavailable, DomainError

logger = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "not_approver": 403,
    "conflict_of_interest": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "cycle_state": 409,
    "window_closed": 409,
    "duplicate_nomination": 409,
    "quota_exceeded": 409,
    "nomination_state": 409,
    "weights_invalid": 409,
    "approvals_open": 409,
    "not_finalized": 409,
    "duplicate_name": 409,
    "validation_error": 422,
    "invalid_windows": 422,
    "invalid_nominee": 422,
    "self_nomination": 422,
    "ineligible_nominee": 422,
    "invalid_ratings": 422,
    "import_invalid": 422,
    "internal_error": 500,
    "database_unavailable": 503,
}

PROBLEM_JSON = "application/problem+json"


def problem(code: str, detail: str, *, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    status = STATUS_BY_CODE[code]
    body: dict[str, Any] = {
        "type": f"urn:plaudit:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if code in ("validation_error", "import_invalid"):
        body["errors"] = errors or []
    if code == "unauthenticated":
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class BodyTooLarge(Exception):
    """Raised by the request middleware's `receive` when a streamed body
    passes the size limit (FastAPI re-raises it as a 400 `from` this)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


def body_too_large(limit: int) -> JSONResponse:
    return problem(
        "validation_error",
        f"the request body is larger than {limit} bytes",
        errors=[{"loc": ["body"], "msg": f"at most {limit} bytes"}],
    )


# How long a client should wait before retrying a 503 database_unavailable.
RETRY_AFTER_SECONDS = 2

# The database cannot serve the request now: unreachable, a connection lost,
# no pooled connection free in time, or a lock or statement timeout
# (psycopg's OperationalError covers 55P03 lock_not_available, 57014
# query_canceled, deadlocks and lost connections). Raised through SQLAlchemy
# or, on the driver paths (`plaudit.db.driver`), by psycopg itself.
UNAVAILABLE = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError, psycopg.InterfaceError,
)


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable in request %s: %s", getattr(request.state, "request_id", "?"),
                   getattr(exc, "orig", None) or exc)
    return problem(DatabaseUnavailable.code, "the database is unavailable or busy; retry shortly",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def internal_error() -> JSONResponse:
    return problem("internal_error", "an unexpected error occurred; it has been logged")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": _message(e)} for e in exc.errors()]


def _message(error: dict[str, Any]) -> str:
    """The error's message; malformed JSON says what is wrong with it."""
    msg = str(error.get("msg", "invalid"))
    reason = (error.get("ctx") or {}).get("error")
    return f"{msg}: {reason}" if error.get("type") == "json_invalid" and reason else msg


async def _on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
    return problem(exc.code, exc.message, errors=exc.errors)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return problem("validation_error", "the request does not match the schema", errors=_validation_errors(exc))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return problem("not_found", "no such path")
    if exc.status_code == 405:
        return problem("method_not_allowed", f"{request.method} is not allowed on this path",
                       headers=exc.headers)
    if exc.status_code == 401:
        return problem("unauthenticated", str(exc.detail))
    if exc.status_code == 403:
        return problem("forbidden", str(exc.detail))
    if isinstance(exc.__cause__, BodyTooLarge):
        return body_too_large(exc.__cause__.limit)
    if exc.status_code in (400, 413, 415, 422):
        return problem("validation_error", str(exc.detail), errors=[{"loc": ["body"], "msg": str(exc.detail)}])
    logger.error("unexpected HTTP error %s: %s", exc.status_code, exc.detail)
    return internal_error()


# SQLSTATEs of values PostgreSQL refuses as input: string too long (22001),
# number out of range (22003), datetime out of range (22008), character not
# in repertoire (22021), malformed literal (22P02), untranslatable character
# (22P05). None: psycopg's own client-side refusal of a NUL character.
# Deliberately NOT listed: division by zero and the like, which are bugs.
INPUT_VALUE_SQLSTATES = frozenset({None, "22001", "22003", "22008", "22021", "22P02", "22P05"})


async def _on_data_error(request: Request, exc: DataError) -> JSONResponse:
    """PostgreSQL (or psycopg) refused a *value* that client input carried
    past the schemas: a 422 validation_error rather than a 500. The
    transaction was already rolled back by the session dependency; SQL and
    parameters stay in the server log. Any other data exception is a bug and
    stays a 500 (as do IntegrityErrors: services translate those a race can
    cause)."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    request_id = getattr(request.state, "request_id", "?")
    if sqlstate not in INPUT_VALUE_SQLSTATES:
        logger.error("unexpected data error in request %s", request_id, exc_info=exc)
        return internal_error()
    logger.warning("database refused a value in request %s: %s", request_id, getattr(exc, "orig", exc))
    return problem(
        "validation_error",
        "a value in the request is out of range or not storable",
        errors=[{"loc": ["body"], "msg": "a value is out of range or contains characters that cannot be stored"}],
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _on_data_error)  # type: ignore[arg-type]
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_unavailable)
