from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from harness.views.status_server import StatusServer


def _get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_follows_liveness_and_status_serves_json() -> None:
    alive = {"value": True}
    server = StatusServer("127.0.0.1", 0, status=lambda: {"round": 3}, alive=lambda: alive["value"]).start()
    try:
        assert _get(server.port, "/health") == (200, {"alive": True})
        assert _get(server.port, "/status") == (200, {"round": 3})
        alive["value"] = False
        assert _get(server.port, "/health") == (503, {"alive": False})
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_broken_status_query_answers_500_and_endpoint_survives() -> None:
    def broken() -> dict:
        raise RuntimeError("db locked")

    server = StatusServer("127.0.0.1", 0, status=broken, alive=lambda: True).start()
    try:
        code, body = _get(server.port, "/status")
        assert code == 500 and "db locked" in body["error"]
        assert _get(server.port, "/health")[0] == 200
    finally:
        server.stop()
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=2)
