"""Request ids, and the last line of defence against unexpected exceptions."""

import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plaudit.api.errors import BodyTooLarge, body_too_large, internal_error, problem

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# Echo a client's id only if it is short, printable and header-safe.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# No request body of this API comes near this; a bigger one is refused before
# it is read into memory.
MAX_BODY_BYTES = 1024 * 1024
# Paths that take a file: a people import of 50,000 rows is about 4 MB, so
# 32 MiB leaves room for long names and ~400,000 rows.
MAX_BODY_BYTES_BY_PATH = {"/imports/people": 32 * 1024 * 1024, "/app/people/import": 8 * 1024 * 1024}
# A NUL character, raw or percent-encoded: PostgreSQL text cannot hold one.
_NUL = re.compile(rb"\x00|%00")


def _has_nul(scope: Scope) -> bool:
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    return bool(_NUL.search(raw_path) or _NUL.search(scope.get("query_string", b"")))


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None




class RequestContext:
    """Pure ASGI middleware: sets `request.state.request_id` (the client's
    `X-Request-ID` if sane, else a new UUID), echoes it on every response,
    refuses a NUL character in the path or query string (422; no query
    parameter could be stored or compared with one) and a body over
    MAX_BODY_BYTES (MAX_BODY_BYTES_BY_PATH for a path that takes a file)
    (422 validation_error: no schema of the API admits one;
    checked on Content-Length and again while a chunked body streams in), and
    turns an unhandled exception into a problem+json 500 that leaks nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), None
        )
        request_id = given if given and _VALID_ID.match(given) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        if _has_nul(scope):
            response = problem(
                "validation_error",
                "the URL contains a NUL character",
                errors=[{"loc": ["query"], "msg": "NUL characters are not allowed"}],
            )
            await response(scope, receive, send_with_id)
            return
        limit = MAX_BODY_BYTES_BY_PATH.get(scope["path"], MAX_BODY_BYTES)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await body_too_large(limit)(scope, receive, send_with_id)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, receive_limited, send_with_id)
        except BodyTooLarge:
            if started:
                raise
            await body_too_large(limit)(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error in request %s", request_id)
            if started:
                raise
            await internal_error()(scope, receive, send_with_id)
