"""The real adapters over HTTP: the drand API beacon against a local server answering in drand's v1 format
(`GET /{chain hash}/public/{round}` -> `{"round", "randomness", "signature"}`), and batches read from and
published to an http(s) feed, with the read bounded while it streams."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.feed.beacon import KNOWN_ROUND, KNOWN_SIGNATURE, QUICKNET_CHAIN_HASH, DrandHttpBeacon, quicknet_time_of
from harness.feed.errors import FeedError
from harness.feed.source import batch_name, publish, read_batch_bytes
from harness.feed.wiring import read_epoch_feed

ENDLESS_EPOCH = 990


class Server:
    """A drand relay and a feed host on one local port; counts requests and bytes sent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        self.streamed = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                parts = self.path.strip("/").split("/")
                if parts[:2] == [QUICKNET_CHAIN_HASH, "public"]:
                    if int(parts[2]) != KNOWN_ROUND:
                        return self._send(425, b'{"error": "requested future beacon"}')
                    pulse = {"round": KNOWN_ROUND, "randomness": "ab" * 32, "signature": KNOWN_SIGNATURE}
                    return self._send(200, json.dumps(pulse).encode())
                if parts[0] == "feed" and parts[1] == batch_name(ENDLESS_EPOCH):
                    self.send_response(200)  # no length: a body that never ends
                    self.end_headers()
                    try:
                        while server.streamed < 64 * 1024 * 1024:
                            self.wfile.write(b"x" * 65536)
                            server.streamed += 65536
                    except OSError:
                        pass
                    return None
                path = server.folder / parts[-1]
                if parts[0] != "feed" or not path.is_file():
                    return self._send(404, b"{}")
                return self._send(200, path.read_bytes())

            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                (server.folder / self.path.rsplit("/", 1)[-1]).write_bytes(self.rfile.read(length))
                self._send(201, b"{}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "served"
    folder.mkdir()
    srv = Server(folder)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_the_drand_beacon_reads_a_published_round_and_does_not_ask_for_one_still_ahead(server: Server) -> None:
    beacon = DrandHttpBeacon(server.url)
    assert beacon.signature(KNOWN_ROUND, 0) == KNOWN_SIGNATURE
    assert server.requests == [f"/{QUICKNET_CHAIN_HASH}/public/{KNOWN_ROUND}"]
    early = DrandHttpBeacon(server.url, clock=lambda: quicknet_time_of(KNOWN_ROUND) - 1)
    assert early.signature(KNOWN_ROUND, 0) is None
    assert len(server.requests) == 1  # judged locked by the clock, never asked
    assert beacon.signature(KNOWN_ROUND + 1, 0) is None  # the relay's "too early" answer is a lock too


def test_a_dead_drand_relay_is_unreachable() -> None:
    beacon = DrandHttpBeacon("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(FeedError) as failed:
        beacon.signature(KNOWN_ROUND, 0)
    assert failed.value.failure_class == "unreachable"


def test_a_batch_published_over_http_is_read_and_opened_with_the_drand_api(
    server: Server, make_settings: Any, publish_batches: Any, feed_dir: Path, chain10: Any
) -> None:
    (batch,) = publish_batches([10])
    publish(f"{server.url}/feed", 10, (feed_dir / batch_name(10)).read_bytes())  # the curator's PUT
    settings = make_settings(feed_url=f"{server.url}/feed", feed_beacon="drand-http", feed_drand_url=server.url)
    feed = read_epoch_feed(settings, chain10, 10)
    assert feed is not None and feed.ok and len(feed.entries) == batch.entries
    missing = read_epoch_feed(settings, chain10, 20)
    assert missing is not None and missing.failure is not None and missing.failure.failure_class == "missing"


def test_an_endless_http_batch_is_cut_off_at_the_cap(server: Server) -> None:
    with pytest.raises(FeedError) as failed:
        read_batch_bytes(f"{server.url}/feed", ENDLESS_EPOCH, max_bytes=256 * 1024)
    assert failed.value.failure_class == "oversized"
    assert server.streamed < 16 * 1024 * 1024  # stopped reading long before the server stopped sending
