"""uvicorn's HTTP protocol with TCP_NODELAY set on every connection.

asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP. With
`--workers N > 1` uvicorn binds the shared listening socket with proto 0, so
accepted connections keep Nagle's algorithm; a response written in two
sends (headers, then body) then waits for the client's delayed ACK, ~40 ms
per request on a kept-alive connection. Setting the option per connection
works whatever the worker count.

The parser is httptools (C, llhttp), not h11 (pure Python): h11 cost about
0.3 ms of CPU per request, a fifth of `GET /users/me` (bench/README.md, E).
"""

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)
