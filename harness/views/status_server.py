"""A tiny read-only HTTP endpoint so that compose, systemd checks and operators can see the service.

`GET /health` answers 200 while the supervisor loop is alive; `GET /status` returns the JSON that
`harness status --json` prints. It binds to a configured address (loopback by default) and serves from a
daemon thread, so it never blocks or outlives the supervisor.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StatusServer:
    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any]], alive: Callable[[], bool]):
        self._status = status
        self._alive = alive
        handler = self._handler_class()
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/health":
                    alive = server._alive()
                    self._send(200 if alive else 503, {"alive": alive})
                elif self.path == "/status":
                    try:
                        self._send(200, server._status())
                    except Exception as exc:  # a broken query must not kill the endpoint
                        self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep stderr for structured logs
                return

        return Handler

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
