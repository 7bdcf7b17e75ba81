"""The FastAPI application."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from plaudit.api import errors
from plaudit.api.middleware import RequestContext
from plaudit.api.routes import audit, cycles, nominations, people, results
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
            owned = make_engine()
            app.state.engine = owned
            app.state.sessionmaker = make_sessionmaker(owned)
        yield
        if owned is not None:
            owned.dispose()

    app = FastAPI(
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

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.sessionmaker() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database is "unreachable"
            logger.warning("health check: database unreachable", exc_info=True)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    for module in (people, cycles, nominations, results, audit):
        app.include_router(module.router)
    return app
