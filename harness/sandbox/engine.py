"""Async OpenAI-compatible client for an inference engine inside a sandbox, reached over a Unix socket.

The sandbox has no network: its engine listens on 127.0.0.1 inside and a relay exposes it as a Unix socket in
a directory only the harness reads. Both engines (sglang, transformers serve) speak the same protocol, so the
evaluation loop has exactly one client: `await client.chat_completion(payload) -> dict`.

Rules this client enforces for an untrusted engine:
- bounded concurrency (a semaphore) so a slow model cannot make the harness pile up requests;
- a wall-clock budget per request (not just per socket read), so a model that drips bytes still times out;
- a cap on the response size, read as a stream, so a model cannot exhaust the harness's memory;
- retries only where they are safe and useful: connect errors (relay not up yet) and 503 (engine warming up).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from harness.errors import HarnessError

FailureClass = Literal[
    "start-timeout", "crashed", "oom", "request-timeout", "bad-response", "request-too-large", "template-timeout"
]

# How both engines' render guard (sandbox_images/common/bounded_render.py) begins the error of a chat-template
# render that ran past its deadline and was cancelled in the engine (the CPU engine answers 422, sglang 400).
TEMPLATE_TIMEOUT_MARKER = b"template-timeout:"

T = TypeVar("T")

# Any host name works over a Unix socket; this one keeps logs readable.
BASE_URL = "http://sandbox"


class EngineError(HarnessError):
    """A request to the engine failed; `failure_class` is what the evaluation records for the model."""

    def __init__(self, failure_class: FailureClass, message: str) -> None:
        super().__init__(f"{failure_class}: {message}")
        self.failure_class: FailureClass = failure_class
        self.reason = message


class _Transient(Exception):
    """Internal: a failure worth retrying (engine not listening yet, or warming up)."""

    def __init__(self, failure_class: FailureClass, message: str) -> None:
        super().__init__(message)
        self.failure_class: FailureClass = failure_class


class EngineClient:
    """One engine behind one Unix socket. Use as `async with EngineClient(path, ...) as client:`."""

    def __init__(
        self,
        socket_path: str | Path | None,
        *,
        request_timeout: float = 120.0,
        max_concurrency: int = 8,
        max_response_bytes: int = 4 * 1024 * 1024,
        max_request_bytes: int = 16 * 1024 * 1024,
        retries: int = 3,
        retry_backoff: float = 0.25,
        model: str | None = None,
        health_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        base_url: str = BASE_URL,
    ) -> None:
        """`socket_path=None` with a TCP `base_url` talks to an engine directly (benchmarks' baseline only)."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.socket_path = str(socket_path) if socket_path is not None else None
        self.max_concurrency = max_concurrency  # callers size their own queue by it (run_tasks)
        self.request_timeout = request_timeout
        self.max_response_bytes = max_response_bytes
        self.max_request_bytes = max_request_bytes
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.model = model
        self.health_timeout = health_timeout
        self._semaphore = asyncio.Semaphore(max_concurrency)
        # httpx's own timeouts bound each socket operation; the overall budget is asyncio.timeout below.
        self._client = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(uds=self.socket_path, retries=0),
            base_url=base_url,
            timeout=httpx.Timeout(request_timeout, connect=min(5.0, request_timeout)),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- public API ---------------------------------------------------------------------------------------

    async def health(self) -> bool:
        """True once the engine answers `/health` with 200; any error (relay up, engine not yet) is False."""
        try:
            async with asyncio.timeout(self.health_timeout):
                response = await self._client.get("/health")
                return response.status_code == 200
        except (httpx.HTTPError, OSError, TimeoutError):
            return False

    async def models(self) -> list[str]:
        """Model ids the engine serves (`/v1/models`)."""
        body = await self._request("GET", "/v1/models", None)
        data = body.get("data")
        if not isinstance(data, list):
            raise EngineError("bad-response", "/v1/models: no 'data' list")
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/chat/completions (tools included as given) and return the parsed JSON body.

        `stream` is forced off: the size cap and the timeout apply to one JSON document.
        """
        if not isinstance(payload, dict):
            raise TypeError("payload must be a dict")
        body = dict(payload)
        body["stream"] = False
        if self.model is not None:
            body.setdefault("model", self.model)
        result = await self._request("POST", "/v1/chat/completions", body)
        if not isinstance(result.get("choices"), list):
            raise EngineError("bad-response", "chat completion without a 'choices' list")
        return result

    # -- internals ----------------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        async with self._semaphore:
            return await self._with_retries(lambda: self._once(method, path, body))

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        last: _Transient | None = None
        for number in range(self.retries + 1):
            try:
                return await attempt()
            except _Transient as exc:
                last = exc
                if number < self.retries:
                    await asyncio.sleep(self.retry_backoff * (2**number))
        assert last is not None
        raise EngineError(last.failure_class, f"{last} (after {self.retries + 1} attempts)")

    async def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.request_timeout):
                return await self._send(method, path, body)
        except TimeoutError:
            raise EngineError(
                "request-timeout", f"{method} {path}: no full answer within {self.request_timeout}s"
            ) from None
        except httpx.TimeoutException as exc:
            raise EngineError("request-timeout", f"{method} {path}: {type(exc).__name__}") from None
        except httpx.ConnectError as exc:
            # Relay not listening (socket missing/refused): the engine is starting or gone. Retry a few times.
            raise _Transient("crashed", f"{method} {path}: cannot connect to the engine socket ({exc})") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # The relay accepted but the engine hung up: it died or never answered. Not retried: a crash
            # mid-generation is a property of the model under test.
            raise EngineError("crashed", f"{method} {path}: engine closed the connection ({exc})") from None

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        if content is not None and len(content) > self.max_request_bytes:
            # Our own task is too big for what the engine was sized for (an image, mostly): never sent, never
            # retried, recorded as the task's failure with its size, the same for every model.
            raise EngineError(
                "request-too-large",
                f"{path}: request of {len(content)} bytes exceeds the cap of {self.max_request_bytes}",
            )
        headers = {"content-type": "application/json"} if content is not None else None
        request = self._client.build_request(method, path, content=content, headers=headers)
        response = await self._client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_response_bytes:
                raise EngineError("bad-response", f"{path}: response of {declared} bytes exceeds the cap")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise EngineError(
                        "bad-response", f"{path}: response exceeds the cap of {self.max_response_bytes} bytes"
                    )
                chunks.append(chunk)
        finally:
            await response.aclose()
        raw = b"".join(chunks)
        if response.status_code == 503:
            raise _Transient("crashed", f"{method} {path}: engine unavailable (503)")
        if response.status_code != 200:
            snippet = raw[:300].decode("utf-8", "replace")
            if TEMPLATE_TIMEOUT_MARKER in raw:
                # The engine cancelled the render and is free again: the task's failure, not the engine's.
                raise EngineError("template-timeout", f"{method} {path}: HTTP {response.status_code}: {snippet}")
            raise EngineError("bad-response", f"{method} {path}: HTTP {response.status_code}: {snippet}")
        try:
            parsed = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EngineError("bad-response", f"{method} {path}: invalid JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise EngineError("bad-response", f"{method} {path}: JSON body is not an object")
        return parsed
