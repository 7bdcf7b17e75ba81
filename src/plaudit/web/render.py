"""One way to render a page: `render(request, template, context)`.

Every page gets the signed-in user, the header's counts and the CSRF token
from here, so a template never asks for them and a handler never forgets
them. Templates hold loops and conditions only; formatting is in filters
(and the approvals queue's rows in `web.rows`, where Jinja2 was too slow).
"""

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from plaudit.web import auth, rows

TZ_COOKIE = "plaudit_tz"


def zone_named(name: str | None) -> ZoneInfo:
    """The IANA zone `name`, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def viewer_zone(request: Request) -> ZoneInfo:
    """The viewer's time zone as their browser reported it (a cookie our
    script sets), else UTC. Used for the values of time fields."""
    return zone_named(request.cookies.get(TZ_COOKIE))


def when(value: datetime | None) -> Markup:
    """A time as `<time>` in UTC ("19 Nov 2026, 17:58 UTC"); the page's script
    shows it in the viewer's zone."""
    return Markup(rows.time_html(value))


def left(until: datetime, now: datetime) -> str:
    """Time left until `until`, in words: "3 days left", "5 hours left"."""
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "closed"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} left"
    return "less than a minute left"


def weight(value: Decimal | str | None) -> str:
    return "" if value is None else f"{Decimal(value):.4f}"


def label(value: str) -> str:
    """An enum value as words: `team_lead` -> `team lead`."""
    return str(value).replace("_", " ")


# Templates ship inside the package and do not change while it runs: no
# check of each template's file on every render (`auto_reload`).
_env = Environment(
    loader=PackageLoader("plaudit.web", "templates"),
    auto_reload=False,
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(when=when, weight=weight, label=label, left=left, queue_rows=rows.queue_rows)


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           errors: dict[str, str] | None = None) -> HTMLResponse:
    """The page `template` with `context`, plus what every page needs: the
    user, the header's counts, the CSRF token, and `errors` by field."""
    page = {
        "user": getattr(request.state, "user", None),
        "header": getattr(request.state, "header", None),
        "csrf_token": auth.csrf_token(request),
        "errors": errors or {},
        "path": request.url.path,
        "flash": auth.flash(request),
        **(context or {}),
    }
    response = HTMLResponse(_env.get_template(template).render(page), status_code=status)
    auth.set_pending_cookies(request, response)
    return response
