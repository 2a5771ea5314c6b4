"""The validator's read-only HTTP endpoint: health and status for operators, the results page for everyone.

- `GET /health`: 200 while the supervisor loop is alive (503 otherwise); `GET /status`: what `harness status --json`
  prints; `GET /metrics`: the metrics exposition when a metrics source is given.
- With a results site (`harness.web.site.ResultsSite`): `GET /` the latest round's leaderboard, `/rounds/N` a
  round's, `/models/HOTKEY[?round=N]` one hotkey's models with every task explained, `/rounds/N.json` the round
  signed with the validator hotkey, `/settings.json` the evaluation settings a miner's selftest can copy.

Safe to face the internet when the operator binds it there (loopback by default): GET only (other methods get
501), every connection bounded in count, time and header size (`harness.views.bounded_http`), every answer capped
in bytes, untrusted text escaped by the templates, no secrets in any answer, and a strict Content-Security-Policy
(no script runs on the page at all).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.views.bounded_http import BoundedHTTPServer, BoundedRequestHandler

if TYPE_CHECKING:
    from harness.web.site import ResultsSite

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_PATH_CHARS = 512
HTML = "text/html; charset=utf-8"
JSON = "application/json"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Metrics = Callable[[], tuple[bytes, str]]
"""() -> (body, content type) of the metrics exposition."""


class StatusServer:
    def __init__(
        self,
        host: str,
        port: int,
        status: Callable[[], dict[str, Any]],
        alive: Callable[[], bool],
        *,
        site: ResultsSite | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._status = status
        self._alive = alive
        self._site = site
        self._metrics = metrics
        self._server = BoundedHTTPServer((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def route(self, raw_path: str) -> tuple[int, bytes, str]:
        """(status code, body, content type) for a GET of `raw_path`; every error is an answer, never a raise."""
        if len(raw_path) > MAX_PATH_CHARS:
            return _json(414, {"error": "path too long"})
        parsed = urllib.parse.urlsplit(raw_path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query, max_num_fields=8)
        try:
            if path == "/health":
                alive = self._alive()
                return _json(200 if alive else 503, {"alive": alive})
            if path == "/status":
                try:
                    return _json(200, self._status())
                except Exception as exc:  # the operator's endpoint names the cause, as it always has
                    return _json(500, {"error": f"{type(exc).__name__}: {exc}"})
            if path == "/metrics" and self._metrics is not None:
                body, content_type = self._metrics()
                return 200, body, content_type
            if self._site is not None:
                answer = self._site_route(self._site, path, query)
                if answer is not None:
                    return answer
        except Exception as exc:  # a broken page must not kill the endpoint; the class name only (no paths leak)
            return _json(500, {"error": type(exc).__name__})
        return _json(404, {"error": "not found"})

    def _site_route(self, site: ResultsSite, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, str] | None:
        if path == "/settings.json":
            return 200, site.settings_json(), JSON
        if path == "/":
            return _html(site.index())
        if path.startswith("/rounds/"):
            name = path[len("/rounds/") :]
            number = name.removesuffix(".json")
            if not number.isdigit() or len(number) > 12:
                return _json(404, {"error": "no such round"})
            if name.endswith(".json"):
                data = site.round_json(int(number))
                return (200, data, JSON) if data is not None else _json(404, {"error": "no such round"})
            return _html(site.index(int(number)))
        if path.startswith("/models/"):
            hotkey = urllib.parse.unquote(path[len("/models/") :], errors="replace")
            rounds = query.get("round") or []
            if rounds and not (rounds[0].isdigit() and len(rounds[0]) <= 12):
                return _json(400, {"error": "round must be a number"})
            return _html(site.model(hotkey, int(rounds[0]) if rounds else None))
        return None

    def _handler_class(self) -> type[BoundedRequestHandler]:
        server = self

        class Handler(BoundedRequestHandler):
            def do_GET(self) -> None:
                code, body, content_type = server.route(self.path)
                if len(body) > MAX_RESPONSE_BYTES:
                    code, body, content_type = _json(500, {"error": "response too large"})
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in SECURITY_HEADERS.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _json(code: int, body: dict[str, Any]) -> tuple[int, bytes, str]:
    return code, json.dumps(body, default=str).encode(), JSON


def _html(page: str | None) -> tuple[int, bytes, str]:
    if page is None:
        from harness.web.pages import render

        return (
            404,
            render("error.html", code=404, message="Nothing here.", signer=None, signer_kind=None).encode(),
            HTML,
        )
    return 200, page.encode(), HTML
