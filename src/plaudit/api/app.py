"""The FastAPI application."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from plaudit.api import errors
from plaudit.api.errors import PROBLEM_JSON, STATUS_BY_CODE
from plaudit.api.middleware import RequestContext
from plaudit.api.routes import audit, cycles, imports, nominations, notifications, people, results
from plaudit.clock import Clock, system_clock
from plaudit.db.session import make_engine, make_sessionmaker

logger = logging.getLogger(__name__)


def create_app(
    *,
    engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the app. With no engine or session factory it connects to
    DATABASE_URL (or the embedded server) when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = None
        if app.state.sessionmaker is None:
            owned = make_engine(serving=True)
            app.state.engine = owned
            app.state.sessionmaker = make_sessionmaker(owned)
        yield
        if owned is not None:
            owned.dispose()

    # /docs and /redoc with their assets served by the app (from the
    # fastapi-offline package): they work on a network without internet access.
    app = FastAPIOffline(
        title="Plaudit",
        version="0.1.0",
        description="Award nomination cycles: nominations, approvals, weighted ranking, audit trail.",
        lifespan=lifespan,
    )
    if session_factory is None and engine is not None:
        session_factory = make_sessionmaker(engine)
    app.state.engine = engine
    app.state.sessionmaker = session_factory
    app.state.clock = clock or system_clock

    errors.install(app)
    app.add_middleware(RequestContext)

    @app.get(
        "/healthz",
        tags=["health"],
        responses={
            503: {"description": 'The database is unreachable: `{"status": "error", "database": "unreachable"}`'},
        },
    )
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.sessionmaker() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database is "unreachable"
            logger.warning("health check: database unreachable", exc_info=True)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    from plaudit.web.app import create_web_app

    # The web app first: routes are tried in order, so a page would otherwise
    # be compared with each of the API's ~60 paths before reaching its mount
    # (bench/README.md, F); an API request pays one failed prefix match.
    app.mount("/app", create_web_app(app.state))

    for module in (people, cycles, nominations, results, audit, imports, notifications):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """People arrive at the web app; the API lives at its own paths."""
        return RedirectResponse("/app/", status_code=307)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


PUBLIC_PATHS = frozenset({"/healthz"})

PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable and machine-readable; "
    "`errors` comes with `validation_error` (`{loc, msg}` items) and `import_invalid` "
    "(`{line, column, msg}` items) only.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:plaudit:problem:validation_error"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted(STATUS_BY_CODE)},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}


def _problem_response(description: str) -> dict:
    return {"description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def document_problems(schema: dict) -> dict:
    """Make the OpenAPI document tell the truth about errors and auth: every
    error is `application/problem+json` (FastAPI would advertise its own 422
    shape), every path but the public ones takes a bearer token and may
    answer 401."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http", "scheme": "bearer", "description": "A personal access token."
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses or operation.get("parameters") or operation.get("requestBody"):
                responses["422"] = _problem_response(
                    "`validation_error` (the body or query does not match the schema) or a rule's 422 code"
                )
            if path in PUBLIC_PATHS:
                continue
            operation["security"] = [{"bearerAuth": []}]
            responses["401"] = _problem_response("`unauthenticated`: no, unknown, expired or revoked token")
            responses["4XX"] = _problem_response("Any other error: see the code table in the API contract")
    return schema
