"""What every page module uses: its router."""

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from plaudit.api.routing import in_one_trip


class PageRoute(APIRoute):
    """A sync page handler runs with the end of its transaction in one
    thread-pool trip, as the API's endpoints do (`plaudit.api.routing`).
    Unlike the API's routes, no bearer-token precedence: a page's visitor is
    signed in by cookie, and a malformed id in its address is a 404 page."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = in_one_trip(endpoint)
        super().__init__(path, endpoint, **kwargs)


def page_router() -> APIRouter:
    return APIRouter(route_class=PageRoute, include_in_schema=False)
