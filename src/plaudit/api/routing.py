"""The route class every router uses: exact JSON decimals, and each sync
endpoint run on the thread pool in one trip, together with the end of its
transaction; and a request that fails validation answered in precedence order
(`plaudit.api.precedence`).

Starlette parses JSON numbers with fractions as binary floats, so a weight
sent as the number 0.50000000000000000001 would reach validation as 0.5 and
pass the "at most 4 decimal places" rule. Parsed as `Decimal`, every digit the
client sent is still there for the rules to judge (DOMAIN.md: never floats).

FastAPI runs a sync endpoint on the thread pool, then goes back to the pool
to validate its response, and `get_session` would go a third time to commit.
Each trip costs more CPU than the nomination path's SQL does (bench/README.md,
benchmark C). So a sync endpoint is wrapped as a coroutine that makes one
trip: the endpoint, then the commit (or, when it raised, the rollback) of the
sessions it was given; its response is validated on the event loop, as an
async endpoint's is.
"""

import functools
import inspect
import json
from collections import Counter
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from plaudit.api.precedence import precede, route_who


class DecimalJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = json.loads(body, parse_float=Decimal, object_pairs_hook=_unique_keys(body))
        return self._json


def _unique_keys(document: bytes) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A JSON object with a key twice is malformed (API.md, Text): parsers
    disagree on which value wins, so none is taken."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            twice = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
            raise json.JSONDecodeError(f"duplicate key {twice!r}", document.decode("utf-8", "replace"), 0)
        return found

    return build


def in_one_trip(endpoint: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The sync `endpoint` as a coroutine: one trip to the thread pool that
    calls it, then commits the sessions it was given, or rolls them back when
    it raised."""

    def call_and_end(kwargs: dict[str, Any]) -> Any:
        sessions = [value for value in kwargs.values() if isinstance(value, Session)]
        try:
            result = endpoint(**kwargs)
        except BaseException:
            for session in sessions:
                session.rollback()
            raise
        for session in sessions:
            session.commit()
        return result

    @functools.wraps(endpoint)
    async def run(**kwargs: Any) -> Any:
        return await run_in_threadpool(call_and_end, kwargs)

    return run


class PlauditRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = in_one_trip(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        who = route_who(self.dependant)

        async def exact_json_handler(request: Request) -> Response:
            try:
                return await handler(DecimalJSONRequest(request.scope, request.receive))
            except (RequestValidationError, StarletteHTTPException):
                # The request did not validate: 401, 404 and 403 come first (`precede`).
                await run_in_threadpool(precede, request, who)
                raise

        return exact_json_handler
