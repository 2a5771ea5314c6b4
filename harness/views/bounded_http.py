"""An HTTP server that a slow or hostile client cannot pin: bounded connections, time and header sizes.

`ThreadingHTTPServer` starts one thread per connection and waits on each socket forever, so 400 half-open
connections or a client that drips its request line hold 400 threads indefinitely. Both of our servers (the
Hub mirror and the status/results endpoint) may face such clients, so both build on this one class:
- at most `max_connections` connections are served at once. When all are taken, a new connection makes the one
  that has waited longest for its request head give way (a client that connects and says nothing is the
  attacker's cheapest move, a real client sends its head within milliseconds); when no connection is waiting
  for its head, the new one is closed at accept, not queued;
- every connection's socket has `idle_timeout_s`: a client silent that long is dropped;
- each request head (request line + headers, every request of a keep-alive connection) must arrive within
  `header_timeout_s`, wall clock: a watchdog shuts the socket down, so a client sending one byte per second
  cannot extend it;
- a request head over `max_header_bytes` is answered 431 and the connection closed.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.logging import get_logger

log = get_logger(__name__)

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_IDLE_TIMEOUT_S = 10.0
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
EVICTION_WAIT_S = 0.5  # how long accept waits for an evicted connection's thread to let its slot go


class BoundedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if not (idle_timeout_s > 0 and header_timeout_s > 0 and max_header_bytes > 0):
            raise ValueError("idle_timeout_s, header_timeout_s and max_header_bytes must be positive")
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.header_timeout_s = header_timeout_s
        self.max_header_bytes = max_header_bytes
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused_connections = 0  # closed at accept: every slot was busy with a request past its head
        self.evicted_connections = 0  # made to give way while waiting for their head
        self.dropped_heads = 0  # cut by the watchdog at the head deadline
        self._active = 0
        self._heads: dict[socket.socket, float] = {}  # connection -> wall-clock deadline of its request head
        self._heads_lock = threading.Lock()
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None
        super().__init__(address, handler)

    @property
    def active_connections(self) -> int:
        """Connections holding a slot (and a thread) right now."""
        with self._heads_lock:
            return self._active

    def watch_head(self, connection: socket.socket) -> None:
        """Start the wall-clock deadline for this connection's next request head (a drip cannot extend it)."""
        with self._heads_lock:
            self._heads[connection] = time.monotonic() + self.header_timeout_s
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="http-head-watchdog", daemon=True)
                self._watchdog.start()

    def head_done(self, connection: socket.socket) -> None:
        with self._heads_lock:
            self._heads.pop(connection, None)

    def _watch(self) -> None:
        """Shut down the sockets whose request head is overdue; the handler's read then ends at once.

        The shutdown happens under the lock that `head_done` takes before a connection is closed, so a socket
        is never shut down after its descriptor was closed and handed to a new connection."""
        interval = min(0.25, self.header_timeout_s / 4)
        while not self._closed.wait(interval):
            now = time.monotonic()
            with self._heads_lock:
                overdue = [conn for conn, deadline in self._heads.items() if deadline <= now]
                for conn in overdue:
                    del self._heads[conn]
                    self.dropped_heads += 1
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)

    def _evict_oldest_head(self) -> bool:
        """Shut down the connection that has waited longest for its request head; False when none waits."""
        with self._heads_lock:
            if not self._heads:
                return False
            oldest = min(self._heads, key=self._heads.__getitem__)
            del self._heads[oldest]
            self.evicted_connections += 1
            with contextlib.suppress(OSError):
                oldest.shutdown(socket.SHUT_RDWR)
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        """Take a slot (evicting a connection stuck before its head if need be) or close the connection at once:
        closing is cheaper than a thread that waits."""
        got = self._slots.acquire(blocking=False)
        if not got and self._evict_oldest_head():
            got = self._slots.acquire(timeout=EVICTION_WAIT_S)
        if not got:
            self.refused_connections += 1
            self.shutdown_request(request)
            return
        with self._heads_lock:
            self._active += 1
        try:
            request.settimeout(self.idle_timeout_s)
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        with self._heads_lock:
            self._active -= 1
        self._slots.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A handler's unexpected error is one log line, not a traceback on stderr (a broken connection is
        routine here and is not even that)."""
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, TimeoutError | ConnectionError):
            log.warning("http.handler_error", error=f"{type(exc).__name__}: {exc}"[:300])

    def server_close(self) -> None:
        self._closed.set()
        super().server_close()


class BoundedRequestHandler(BaseHTTPRequestHandler):
    """Reads each request head under a wall-clock deadline and a byte cap; subclasses implement `do_GET` etc.

    HTTP/1.0 by default (one request per connection); a subclass may speak HTTP/1.1 keep-alive: every request
    head of the connection then gets its own deadline, and an idle connection between requests is dropped at
    the head deadline too."""

    protocol_version = "HTTP/1.0"
    server: BoundedHTTPServer

    def setup(self) -> None:
        super().setup()
        self._head_bytes = 0
        self._reading_head = False
        self.rfile = _CappedHeadReader(self.rfile, self)  # type: ignore[assignment]

    def parse_request(self) -> bool:
        ok = super().parse_request()
        # The head is in: the body (if any) and the answer are bounded by the socket's idle timeout alone.
        self._reading_head = False
        self.server.head_done(self.connection)
        return ok

    def finish(self) -> None:
        self.server.head_done(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle_one_request(self) -> None:
        self._head_bytes = 0
        self._reading_head = True
        self.server.watch_head(self.connection)
        try:
            super().handle_one_request()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except _HeadTooLarge:
            self.close_connection = True
            self.server.head_done(self.connection)
            self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
            with contextlib.suppress(OSError):
                self.send_error(431, "Request header fields too large")

    def log_message(self, format: str, *args: Any) -> None:  # stderr belongs to the structured logs
        return


class _HeadTooLarge(Exception):
    pass


class _CappedHeadReader:
    """Wraps the socket file so that the request head as a whole stays under the server's byte cap."""

    def __init__(self, raw: Any, handler: BoundedRequestHandler) -> None:
        self._raw = raw
        self._handler = handler

    def readline(self, limit: int = -1) -> bytes:
        handler = self._handler
        if not handler._reading_head:
            return bytes(self._raw.readline(limit))
        cap = handler.server.max_header_bytes - handler._head_bytes + 1
        line = self._raw.readline(cap if limit < 0 else min(limit, cap))
        handler._head_bytes += len(line)
        if handler._head_bytes > handler.server.max_header_bytes:
            raise _HeadTooLarge()
        return bytes(line)

    def read(self, size: int = -1) -> bytes:
        return bytes(self._raw.read(size))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


__all__ = ["BoundedHTTPServer", "BoundedRequestHandler"]
