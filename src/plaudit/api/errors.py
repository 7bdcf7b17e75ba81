"""The one table from error codes to HTTP statuses, and the problem+json handlers.

Every error response is RFC 9457 `application/problem+json`:
`{type, title, status, detail, code}` plus `errors` for `validation_error`.
"""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from plaudit.errors import DomainError

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
    "invalid_ratings": 422,
    "internal_error": 500,
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
    if code == "validation_error":
        body["errors"] = errors or []
    if code == "unauthenticated":
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def internal_error() -> JSONResponse:
    return problem("internal_error", "an unexpected error occurred; it has been logged")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))} for e in exc.errors()]


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
    if exc.status_code in (400, 413, 415, 422):
        return problem("validation_error", str(exc.detail))
    logger.error("unexpected HTTP error %s: %s", exc.status_code, exc.detail)
    return internal_error()


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
