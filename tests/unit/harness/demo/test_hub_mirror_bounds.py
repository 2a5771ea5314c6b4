"""The Hub mirror under clients that hold it: half-open floods, drips on a keep-alive connection, long paths."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.demo.hub_mirror import publish
from tests.support.hubserver import RecordingMirrorServer
from tests.support.model_factory import write_tiny_model
from tests.support.polling import wait_until


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[RecordingMirrorServer, str]]:
    published = publish(write_tiny_model(tmp_path / "m"), "acme/tiny", tmp_path / "mirror")
    server = RecordingMirrorServer(tmp_path / "mirror")
    server.max_connections, server.idle_timeout_s, server.header_timeout_s = 16, 5.0, 1.0
    with server:
        yield server, published.sha


def _config(server: RecordingMirrorServer, sha: str) -> int:
    return httpx.get(f"{server.url}/acme/tiny/resolve/{sha}/config.json", timeout=5).status_code


def _active(server: RecordingMirrorServer) -> int:
    assert server._httpd is not None
    return server._httpd.active_connections


def test_400_half_open_connections_are_dropped_and_the_mirror_answers(
    mirror: tuple[RecordingMirrorServer, str],
) -> None:
    server, sha = mirror
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(400)]
    try:
        assert wait_until(lambda: _active(server) > 0, 5)
        assert threading.active_count() - threads_before <= server.max_connections + 1
        assert _config(server, sha) == 200  # answered during the flood
        assert wait_until(lambda: _active(server) == 0, 3.0), "half-open connections outlived the head deadline"
        assert _config(server, sha) == 200
    finally:
        for sock in idle:
            sock.close()


def test_keep_alive_connection_gets_a_head_deadline_for_each_request(mirror: tuple[RecordingMirrorServer, str]) -> None:
    server, sha = mirror
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    request = f"GET /acme/tiny/resolve/{sha}/config.json HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    sock.sendall(request)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    start, closed_at = time.monotonic(), None
    try:
        for byte in request * 10:  # the next request, one byte per 50 ms: 45 s to finish
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except OSError:
        closed_at = time.monotonic() - start
    if closed_at is None:
        assert sock.recv(100) == b""
        closed_at = time.monotonic() - start
    sock.close()
    assert closed_at < 3.0, f"the second request's drip held the connection {closed_at:.1f}s"


def test_2000_requests_with_60kb_paths_leave_memory_and_the_log_bounded(
    mirror: tuple[RecordingMirrorServer, str],
) -> None:
    server, _ = mirror
    path = "/acme/tiny/resolve/main/" + "a" * 60_000
    statuses: dict[int, int] = {}
    tracemalloc.start()
    try:
        for _ in range(2000):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                try:
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    status = int(sock.recv(64).split()[1])
                except (OSError, IndexError):
                    status = 0  # reset before the answer was read: refused all the same
                statuses[status] = statuses.get(status, 0) + 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert set(statuses) <= {431, 0} and statuses.get(431, 0) > 1000
    assert len(server.requests) == 0  # refused before any handler logic: nothing recorded
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB traced"


class _SmallLog(RecordingMirrorServer):
    max_logged_requests = 50


def test_request_log_keeps_only_the_latest(tmp_path: Path) -> None:
    publish(write_tiny_model(tmp_path / "m"), "acme/tiny", tmp_path / "mirror")
    server = _SmallLog(tmp_path / "mirror")
    with server, httpx.Client(base_url=server.url, timeout=5) as client:
        for i in range(120):
            client.get(f"/acme/tiny/resolve/main/{i}-" + "b" * 8000)
        requests = server.requests
    assert len(requests) == 50
    assert requests[-1].path.startswith("/acme/tiny/resolve/main/119-") and requests[0].path.split("/")[-1][:3] == "70-"
