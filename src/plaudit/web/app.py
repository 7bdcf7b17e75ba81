"""The web app, mounted in the API's application under `/app`.

It shares the API's state (database sessions, clock), middleware (request
ids, body limits) and services; it has its own error handlers so that every
error is a page in words with a way back, never a trace or JSON.
"""

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException

from plaudit.api.errors import RETRY_AFTER_SECONDS, UNAVAILABLE
from plaudit.errors import DomainError, NotFound
from plaudit.web import auth
from plaudit.web.pages import ROUTERS
from plaudit.web.render import render

logger = logging.getLogger(__name__)

ERROR_TEXT = {
    403: ("You may not do this", "Your role does not allow this page or action."),
    404: ("Page not found", "There is nothing here, or you may not see it."),
    405: ("Not possible here", "This page cannot be used that way."),
    409: ("That did not work", None),
    422: ("That did not work", None),
    500: ("Something went wrong", "An unexpected error occurred. It has been logged; please try again."),
    503: ("Plaudit is busy", "The database is busy or cannot be reached just now. Please try again in a moment."),
}


def error_page(request: Request, status: int, detail: str | None = None) -> HTMLResponse:
    title, text = ERROR_TEXT.get(status, ERROR_TEXT[500])
    return render(request, "error.html", {"status": status, "title": title, "detail": detail or text}, status=status)


def create_web_app(state: State) -> FastAPI:
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state = state
    web.mount("/static", StaticFiles(packages=[("plaudit.web", "static")]), name="static")
    for router in ROUTERS:
        web.include_router(router)

    @web.exception_handler(auth.SignInRequired)
    async def sign_in_first(request: Request, exc: auth.SignInRequired) -> RedirectResponse:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = back if request.method == "GET" else "/app/"
        return RedirectResponse(f"/app/login?next={quote(target)}", status_code=303)

    @web.exception_handler(auth.CsrfRefused)
    async def csrf_refused(request: Request, exc: auth.CsrfRefused) -> HTMLResponse:
        return error_page(request, 403, "This form has expired or did not come from this site. Go back, reload "
                                        "the page and try again.")

    @web.exception_handler(DomainError)
    async def refused(request: Request, exc: DomainError) -> HTMLResponse:
        from plaudit.api.errors import STATUS_BY_CODE

        status = STATUS_BY_CODE.get(exc.code, 500)
        return error_page(request, status, None if isinstance(exc, NotFound) else exc.message)

    @web.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        # A malformed id in the address is a page that does not exist.
        return error_page(request, 404)

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        return error_page(request, exc.status_code if exc.status_code in ERROR_TEXT else 500)

    async def unavailable(request: Request, exc: Exception) -> HTMLResponse:
        # As the API's 503 database_unavailable: a lock or statement timeout,
        # a lost connection, an unreachable server. Not a bug: no 500.
        logger.warning("database unavailable on page %s: %s", request.url.path, getattr(exc, "orig", None) or exc)
        response = error_page(request, 503)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for kind in UNAVAILABLE:
        web.add_exception_handler(kind, unavailable)

    @web.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> HTMLResponse:
        logger.error("unhandled error on page %s", request.url.path, exc_info=exc)
        return error_page(request, 500)

    return web
