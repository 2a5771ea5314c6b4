"""One wall-clock deadline per Hub request, however slowly its status line, headers or body arrive.

httpx's timeouts apply to each socket operation: a server that sends one byte every few seconds resets them on
every read and holds a request open for as long as it likes. Here every socket operation of a request gets the
time left until that request's deadline as its timeout (a thread-local set by `deadline_at`), and past it the
request fails with `HubDeadline`: no complete answer in time is an answer too, so it is not retried as a
transient error (a dripping server would only be given the same time again).

The deadline is enforced by wrapping httpcore's network backend (the layer that owns the sockets), installed
on every connection pool of an httpx client, proxies included.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from policies.errors import HubUnreachable


class HubDeadline(HubUnreachable):
    """A request did not complete before its deadline (a slow or dripping server); not retried."""


_local = threading.local()


def _deadline() -> float:
    return getattr(_local, "at", math.inf)


@contextmanager
def deadline_at(at: float, what: str) -> Iterator[None]:
    """Socket operations of this thread's requests in the block must finish by monotonic time `at`."""
    previous = getattr(_local, "at", math.inf), getattr(_local, "what", "")
    _local.at, _local.what = min(at, previous[0]), what
    try:
        yield
    finally:
        _local.at, _local.what = previous


def extend_deadline(at: float) -> None:
    """Move the current block's deadline (a download's body gets the model's deadline once headers are in)."""
    _local.at = at


def _left(timeout: float | None) -> float:
    left = _deadline() - time.monotonic()
    if left <= 0:
        raise HubDeadline(f"{getattr(_local, 'what', 'Hub request')}: no complete answer within the deadline")
    return left if timeout is None else min(timeout, left)


def _timed(call: Any, timeout: float | None) -> Any:
    limit = _left(timeout)
    try:
        return call(limit)
    except (httpcore.TimeoutException, TimeoutError):
        _left(None)  # past the deadline: `HubDeadline`; otherwise the socket's own timeout, as before
        raise


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _timed(lambda t: self._inner.read(max_bytes, t), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _timed(lambda t: self._inner.write(buffer, t), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _Stream(_timed(lambda t: self._inner.start_tls(ssl_context, server_hostname, t), timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options=None
    ) -> httpcore.NetworkStream:  # type: ignore[no-untyped-def]
        return _Stream(_timed(lambda t: self._inner.connect_tcp(host, port, t, local_address, socket_options), timeout))

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):  # type: ignore[no-untyped-def]
        return _Stream(_timed(lambda t: self._inner.connect_unix_socket(path, t, socket_options), timeout))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: httpx.Client) -> httpx.Client:
    """Give every connection pool of `client` (its transport and proxy mounts) the deadline-aware backend."""
    transports = [client._transport, *client._mounts.values()]  # why: httpx has no public hook
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is None:
            continue  # a test's MockTransport: no sockets
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)
    return client
