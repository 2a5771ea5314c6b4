"""BoundedHTTPServer against clients that hold connections: half-open floods, drips, oversized heads."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from harness.views.bounded_http import BoundedHTTPServer, BoundedRequestHandler
from tests.support.polling import wait_until


class _Hello(BoundedRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[BoundedHTTPServer]:
    httpd = BoundedHTTPServer(
        ("127.0.0.1", 0), _Hello, max_connections=16, idle_timeout_s=5.0, header_timeout_s=1.0, max_header_bytes=4096
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _get(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return response.read()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_half_open_flood_holds_no_thread_past_the_head_deadline(server: BoundedHTTPServer) -> None:
    threads_before = threading.active_count()
    idle = [_connect(server.server_address[1]) for _ in range(400)]
    try:
        assert wait_until(lambda: server.active_connections > 0, 5)
        assert server.active_connections <= server.max_connections
        assert threading.active_count() - threads_before <= server.max_connections + 1  # + the head watchdog
        # while the flood sits there, a real request makes the oldest silent connection give way
        assert _get(server.server_address[1]) == b"hello"
        assert server.evicted_connections > 0
        # no connection outlives its head deadline (1 s), however many were opened
        assert wait_until(lambda: server.active_connections == 0, 3.0)
        assert _get(server.server_address[1]) == b"hello"
    finally:
        for sock in idle:
            sock.close()


def test_dripped_request_line_is_cut_at_the_head_deadline(server: BoundedHTTPServer) -> None:
    sock = _connect(server.server_address[1])
    start = time.monotonic()
    closed_at = None
    try:
        for byte in b"GET /" + b"a" * 200:  # one byte per 50 ms: 10 s to finish, each byte well within idle
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except OSError:
        closed_at = time.monotonic() - start
    if closed_at is None:  # writes may still succeed into a half-closed socket: the read says it ended
        sock.settimeout(5)
        assert sock.recv(100) == b""
        closed_at = time.monotonic() - start
    sock.close()
    assert closed_at < 3.0, f"a drip held the connection {closed_at:.1f}s past a 1 s head deadline"
    assert server.dropped_heads >= 1


def test_head_over_the_cap_is_answered_431_and_closed(server: BoundedHTTPServer) -> None:
    sock = _connect(server.server_address[1])
    sock.sendall(b"GET /" + b"a" * 60_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    sock.settimeout(5)
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.0 431")
    assert _get(server.server_address[1]) == b"hello"


def test_many_headers_over_the_cap_are_refused(server: BoundedHTTPServer) -> None:
    sock = _connect(server.server_address[1])
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(90))  # each line small, the head is not
    sock.sendall(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
    sock.settimeout(5)
    assert sock.recv(100).startswith(b"HTTP/1.0 431")
    sock.close()


def test_server_close_stops_the_watchdog() -> None:
    httpd = BoundedHTTPServer(("127.0.0.1", 0), _Hello, header_timeout_s=0.2)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    assert _get(httpd.server_address[1]) == b"hello"
    watchdog = httpd._watchdog
    assert watchdog is not None and watchdog.is_alive()
    httpd.shutdown()
    httpd.server_close()
    watchdog.join(2)
    assert not watchdog.is_alive()
