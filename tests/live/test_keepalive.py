"""Browsers keep connections alive: with several workers the shared listening
socket must still give each connection TCP_NODELAY, or Nagle's algorithm
meets delayed ACKs and every response on a kept-alive connection waits ~40 ms."""

import http.client
import statistics
import time
from urllib.parse import urlsplit

from tests.live.conftest import LiveServer


def test_kept_alive_requests_are_fast_with_two_workers(live_server: LiveServer):
    url = urlsplit(live_server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    timings = []
    first_socket = None
    try:
        for _ in range(55):
            started = time.perf_counter()
            connection.request("GET", "/users/me", headers=headers)
            response = connection.getresponse()
            body = response.read()
            timings.append(time.perf_counter() - started)
            assert response.status == 200, body
            assert not response.will_close
            first_socket = first_socket or connection.sock
            assert connection.sock is first_socket  # one connection throughout
    finally:
        connection.close()
    median_ms = statistics.median(timings[5:]) * 1000  # 50 after a warm-up
    assert median_ms < 10, f"median {median_ms:.1f} ms per request on one kept-alive connection"
