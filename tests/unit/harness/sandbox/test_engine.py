"""EngineClient against a real HTTP server on a real Unix socket (in-process), one behaviour per route."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.sandbox.engine import EngineClient, EngineError

CHAT_OK = {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}


class FakeEngine:
    """A minimal HTTP/1.1 server: the route decides the behaviour; counts requests per path."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.hits: dict[str, int] = {}
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if body:
                    self.bodies.append(json.loads(body))
                self.hits[path] = self.hits.get(path, 0) + 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    keep = await self.respond(method, path, writer)
                finally:
                    self.in_flight -= 1
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def respond(self, method: str, path: str, writer: asyncio.StreamWriter) -> bool:
        def send(status: int, payload: bytes) -> None:
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )

        mode = self.mode
        if path == "/health":
            send(200 if mode != "unhealthy" else 503, b"{}")
        elif path == "/v1/models":
            send(200, json.dumps({"data": [{"id": "/model"}]}).encode())
        elif mode == "ok":
            await asyncio.sleep(0.05)
            send(200, json.dumps(CHAT_OK).encode())
        elif mode == "warming" and self.hits[path] < 3:
            send(503, b"{}")
        elif mode == "warming":
            send(200, json.dumps(CHAT_OK).encode())
        elif mode == "hang":
            await asyncio.sleep(3600)
        elif mode == "drip":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            for _ in range(1000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)
        elif mode == "close":
            return False
        elif mode == "big":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            for _ in range(100):
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        elif mode == "badjson":
            send(200, b"not json")
        elif mode == "nochoices":
            send(200, b"{}")
        elif mode == "500":
            send(500, b'{"error": "boom"}')
        elif mode == "render-timeout-cpu":  # the CPU engine's answer to a render cancelled at its deadline
            send(422, b'{"error": {"type": "template-timeout", "message": "template-timeout: chat template ..."}}')
        elif mode == "render-timeout-sglang":  # sglang answers the same ValueError as a 400 with its message
            send(400, b'{"object": "error", "message": "template-timeout: chat template ...", "code": 400}')
        await writer.drain()
        return True


async def _serve(tmp_path: Path, mode: str) -> tuple[FakeEngine, asyncio.AbstractServer, Path]:
    engine = FakeEngine(mode)
    sock = tmp_path / "engine.sock"
    server = await asyncio.start_unix_server(engine.handle, path=str(sock))
    return engine, server, sock


def _run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("mode", "failure_class"),
    [
        ("hang", "request-timeout"),
        ("drip", "request-timeout"),
        ("close", "crashed"),
        ("big", "bad-response"),
        ("badjson", "bad-response"),
        ("nochoices", "bad-response"),
        ("500", "bad-response"),
        ("render-timeout-cpu", "template-timeout"),
        ("render-timeout-sglang", "template-timeout"),
    ],
)
def test_failures_are_classified(tmp_path: Path, mode: str, failure_class: str) -> None:
    async def main() -> None:
        engine, server, sock = await _serve(tmp_path, mode)
        async with server, EngineClient(sock, request_timeout=0.5, max_response_bytes=1_000_000) as client:
            with pytest.raises(EngineError) as info:
                await client.chat_completion({"messages": []})
            assert info.value.failure_class == failure_class
            # Only transient errors are retried: each of these reached the engine exactly once.
            assert engine.hits["/v1/chat/completions"] == 1

    _run(main())


def test_chat_completion_sends_payload_and_model_default(tmp_path: Path) -> None:
    async def main() -> None:
        engine, server, sock = await _serve(tmp_path, "ok")
        async with server, EngineClient(sock, model="/model") as client:
            tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
            result = await client.chat_completion({"messages": [{"role": "user", "content": "x"}], "tools": tools})
            assert result == CHAT_OK
            assert engine.bodies[0]["tools"] == tools
            assert engine.bodies[0]["model"] == "/model"
            assert engine.bodies[0]["stream"] is False
            assert await client.health() is True
            assert await client.models() == ["/model"]

    _run(main())


def test_a_request_over_the_cap_is_never_sent_and_one_under_it_carries_its_image(tmp_path: Path) -> None:
    image = "data:image/png;base64," + "A" * 120_000  # a caption task's picture, as the request carries it
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}

    async def main() -> None:
        engine, server, sock = await _serve(tmp_path, "ok")
        async with server:
            async with EngineClient(sock, max_request_bytes=100_000) as small:
                with pytest.raises(EngineError) as info:
                    await small.chat_completion({"messages": [message]})
                assert info.value.failure_class == "request-too-large"
                assert "exceeds the cap of 100000" in str(info.value)
                assert "/v1/chat/completions" not in engine.hits  # not sent, not retried
            async with EngineClient(sock, max_request_bytes=200_000) as large:
                assert await large.chat_completion({"messages": [message]}) == CHAT_OK
                assert engine.bodies[0]["messages"][0]["content"][0]["image_url"]["url"] == image

    _run(main())


def test_503_is_retried_until_ready(tmp_path: Path) -> None:
    async def main() -> None:
        engine, server, sock = await _serve(tmp_path, "warming")
        async with server, EngineClient(sock, retries=3, retry_backoff=0.01) as client:
            assert await client.chat_completion({"messages": []}) == CHAT_OK
            assert engine.hits["/v1/chat/completions"] == 3

    _run(main())


def test_connect_error_is_retried_then_crashed(tmp_path: Path) -> None:
    async def main() -> None:
        async with EngineClient(tmp_path / "missing.sock", retries=2, retry_backoff=0.01) as client:
            assert await client.health() is False
            with pytest.raises(EngineError) as info:
                await client.chat_completion({"messages": []})
            assert info.value.failure_class == "crashed"
            assert "3 attempts" in str(info.value)

    _run(main())


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    async def main() -> None:
        engine, server, sock = await _serve(tmp_path, "ok")
        async with server, EngineClient(sock, max_concurrency=3) as client:
            await asyncio.gather(*(client.chat_completion({"messages": []}) for _ in range(12)))
        assert engine.hits["/v1/chat/completions"] == 12
        assert engine.max_in_flight == 3

    _run(main())
