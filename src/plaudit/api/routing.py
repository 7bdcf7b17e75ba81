"""The route class every router uses: JSON bodies keep their decimals exact.

Starlette parses JSON numbers with fractions as binary floats, so a weight
sent as the number 0.50000000000000000001 would reach validation as 0.5 and
pass the "at most 4 decimal places" rule. Parsed as `Decimal`, every digit the
client sent is still there for the rules to judge (DOMAIN.md: never floats).
"""

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DecimalJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_float=Decimal)
        return self._json


class PlauditRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(DecimalJSONRequest(request.scope, request.receive))

        return exact_json_handler
