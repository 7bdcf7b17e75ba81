"""What every page module uses: its router class and the clock."""

from fastapi import APIRouter

from plaudit.api.routing import PlauditRoute


def page_router() -> APIRouter:
    """Sync handlers run with their transaction's end in one thread-pool trip
    (as the API's); pages are not part of the OpenAPI document."""
    return APIRouter(route_class=PlauditRoute, include_in_schema=False)
