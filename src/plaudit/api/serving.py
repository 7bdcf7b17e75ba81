"""uvicorn's HTTP protocol with TCP_NODELAY set on every connection.

asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP. With
`--workers N > 1` uvicorn binds the shared listening socket with proto 0, so
accepted connections keep Nagle's algorithm; a response written in two
sends (headers, then body) then waits for the client's delayed ACK, ~40 ms
per request on a kept-alive connection. Setting the option per connection
works whatever the worker count.
"""

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
