"""Sessions and CSRF for the pages: one dependency each.

`PageUser` is the signed-in user (signed out: a redirect to the sign-in page
and back). `Form` is the posted form once its CSRF token is checked: the
token is an HMAC of the session's secret (signed out, of a random
form cookie), so it is bound to the session, never stored, and a post
without the right one is a 403 before any handler or service runs.
"""

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.config import get_settings
from plaudit.models import User
from plaudit.services import signin
from plaudit.web.header import header_for

SESSION_COOKIE = "plaudit_session"
FORM_COOKIE = "plaudit_form"  # the CSRF secret of forms shown signed out (sign in, set password)
FLASH_COOKIE = "plaudit_flash"
COOKIE_PATH = "/app"
SESSION_MAX_AGE = int(signin.ABSOLUTE_TIMEOUT.total_seconds())


@dataclass(frozen=True)
class Viewer:
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    team_id: uuid.UUID | None


class SignInRequired(Exception):
    """Raised by `PageUser` when nobody is signed in; becomes a redirect."""


class CsrfRefused(Exception):
    """Raised by `Form` when the CSRF token is missing or wrong; becomes a 403 page."""


def secure_cookies() -> bool:
    return get_settings().base_url.lower().startswith("https://")


def _set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=secure_cookies())


def start(response: Response, secret: str) -> Response:
    """Give the browser its session cookie (and drop the signed-out form cookie)."""
    _set_cookie(response, SESSION_COOKIE, secret, max_age=SESSION_MAX_AGE)
    response.delete_cookie(FORM_COOKIE, path=COOKIE_PATH)
    return response


def end(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure_cookies())
    return response


def _form_secret(request: Request) -> str:
    """The secret CSRF tokens derive from: the session's, else the form cookie's
    (made now, and set on the response by `set_pending_cookies`)."""
    if getattr(request.state, "user", None) is not None:
        return request.cookies[SESSION_COOKIE]
    secret = request.cookies.get(FORM_COOKIE) or getattr(request.state, "new_form_secret", None)
    if secret is None:
        secret = request.state.new_form_secret = secrets.token_urlsafe(32)
    return secret


def _token(secret: str) -> str:
    mac = hmac.new(secret.encode(), b"plaudit csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_token(request: Request) -> str:
    return _token(_form_secret(request))


def flash(request: Request) -> str | None:
    value = request.cookies.get(FLASH_COOKIE)
    return unquote(value) if value else None


def set_pending_cookies(request: Request, response: Response) -> None:
    """Cookies a render decided on: a new form secret, and clearing a shown flash."""
    new = getattr(request.state, "new_form_secret", None)
    if new is not None:
        _set_cookie(response, FORM_COOKIE, new)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)


def redirect(url: str, *, flash: str | None = None) -> RedirectResponse:
    """POST-redirect-GET, with an optional one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        _set_cookie(response, FLASH_COOKIE, quote(flash))
    return response


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a page of the app, never another site."""
    if value and value.startswith("/app/") and not value.startswith("/app//") and "\\" not in value:
        return value
    return "/app/"


def current_user(request: Request, session: SessionDep, clock: ClockDep) -> User:
    user = signin.session_user(session, request.cookies.get(SESSION_COOKIE), now=clock.now())
    if user is None:
        raise SignInRequired()
    # What pages show of the viewer, copied: an error page may render after
    # the request's session has ended.
    request.state.user = Viewer(user.id, user.email, user.display_name, user.role, user.team_id)
    request.state.header = header_for(session, user, clock)
    return user


PageUser = Annotated[User, Depends(current_user)]


async def checked_form(request: Request) -> FormData:
    """The posted form, if its CSRF token matches the browser's session (or,
    signed out, its form cookie); else `CsrfRefused`."""
    form = await request.form()
    given = form.get("csrf_token")
    secrets_ = [request.cookies.get(name) for name in (SESSION_COOKIE, FORM_COOKIE)]
    if not isinstance(given, str) or not any(
        secret and hmac.compare_digest(given, _token(secret)) for secret in secrets_
    ):
        raise CsrfRefused()
    return form


Form = Annotated[FormData, Depends(checked_form)]
