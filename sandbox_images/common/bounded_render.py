"""Chat-template renders with a deadline, inside the engine: each render runs in a worker process that is killed
when its deadline passes, so one hostile template costs one request's deadline, not the engine.

Why a process and not a thread: a Jinja render is pure Python in a loop the template controls; a thread cannot
be stopped, and both engines (transformers serve, sglang) render on their HTTP event loop, so a render that never
ends stops every request behind it (and `/health`). A worker process can be killed, and a fresh one takes its
place at once. Why a plain subprocess and not `multiprocessing`: with sglang the `__main__` module is sglang's
launcher, which a spawned child would re-import (seconds) every time a hostile render is killed.

Both engines render through `transformers.utils.chat_template_utils.render_jinja_template` (imported by name
into `tokenization_utils_base` and `processing_utils`); `install(deadline_s)` replaces it there with a version
that sends the call to the worker. The worker also runs under a memory limit and a cap on the rendered text,
so a template that grows its output fails there, not by the container's OOM.

A render that runs past its deadline raises `TemplateTimeout`, a `ValueError` whose message starts with
`MARKER`: transformers serve answers it as HTTP 422 (the handler below), sglang as 400 with the message; the
harness recognises the marker and records the task as `template-timeout`.

This file is copied into the engine images (/opt/engine) and imports nothing from the harness.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

MARKER = "template-timeout"
# HTTP status of a failed render in the CPU engine: not 503 (a client retries that), not 500 (a crash).
FAILED_RENDER_STATUS = 422
DEFAULT_MEMORY_BYTES = 2 * 1024**3
DEFAULT_MAX_OUTPUT_CHARS = 4 * 1024**2
WORKER_START_S = 60.0
_MODULES = (
    "transformers.utils.chat_template_utils",
    "transformers.tokenization_utils_base",
    "transformers.processing_utils",
)


class TemplateTimeout(ValueError):
    """The chat template's render ran past its deadline and was killed."""


class TemplateRenderFailed(ValueError):
    """The render worker died (memory limit) or produced more text than allowed."""


def _original_render() -> Callable[..., Any]:
    from transformers.utils import chat_template_utils

    return chat_template_utils.render_jinja_template


class RenderWorker:
    """One worker process; `render(*args, **kwargs)` runs the original render there within `deadline_s`."""

    def __init__(
        self,
        deadline_s: float,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        if not deadline_s > 0:
            raise ValueError("deadline_s must be > 0")
        self.deadline_s = deadline_s
        self.memory_bytes = memory_bytes
        self.max_output_chars = max_output_chars
        self.timeouts = 0
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._last_timed_out: object | None = None
        self._started = False

    def start(self) -> None:
        """Starts the worker now and waits until it is ready (it imports Jinja and transformers' template code:
        about a second), so a broken worker stops the engine at start-up, not at its first request."""
        with self._lock:
            self._ready()

    def close(self) -> None:
        with self._lock:
            self._kill()

    def render(self, *args: Any, **kwargs: Any) -> Any:
        conversations = kwargs.get("conversations", args[0] if args else None)
        first = conversations[0] if isinstance(conversations, list) and conversations else None
        with self._lock:
            if first is not None and first is self._last_timed_out:
                # sglang renders again at once with the tools reshaped when a render fails: the same messages
                # through the same template would burn a second deadline for the same request.
                raise TemplateTimeout(f"{MARKER}: chat template render already timed out for these messages")
            conn = self._ready()
            try:
                conn.send_bytes(pickle.dumps((args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
            except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
                self._kill()
                raise TemplateRenderFailed(
                    f"chat template arguments could not reach the render worker: {exc}"
                ) from None
            if not conn.poll(self.deadline_s):
                self._kill()
                self.timeouts += 1
                self._last_timed_out = first
                self._ensure()  # the next request finds a worker already starting
                raise TemplateTimeout(
                    f"{MARKER}: chat template render exceeded its deadline of {self.deadline_s:g}s and was cancelled"
                )
            try:
                ok, value = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                code = self._kill()
                raise TemplateRenderFailed(
                    f"chat template render worker died (exit {code}; memory limit {self.memory_bytes} bytes?)"
                ) from None
        if ok:
            return value
        raise value

    # -- internals ----------------------------------------------------------------------------------------

    def _ready(self) -> Connection:
        """The worker's connection once it said it is ready, so its start-up never counts against a deadline."""
        conn = self._ensure()
        if not self._started:
            if not conn.poll(WORKER_START_S):
                self._kill()
                raise TemplateRenderFailed(f"chat template render worker did not start within {WORKER_START_S}s")
            try:
                conn.recv_bytes()
            except (EOFError, OSError):
                code = self._kill()
                raise TemplateRenderFailed(f"chat template render worker exited at start (exit {code})") from None
            self._started = True
        return conn

    def _ensure(self) -> Connection:
        if self._process is not None and self._process.poll() is None and self._conn is not None:
            return self._conn
        self._kill()
        parent, child = socket.socketpair()
        process = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                str(child.fileno()),
                str(self.memory_bytes),
                str(self.max_output_chars),
            ],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # killed as a group: nothing the render started outlives it
        )
        child.close()
        self._process = process
        self._conn = Connection(parent.detach())
        self._started = False
        return self._conn

    def _kill(self) -> int | None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


_worker: RenderWorker | None = None


def install(deadline_s: float, **options: Any) -> RenderWorker:
    """Routes every chat-template render of this process through a bounded worker (started now)."""
    global _worker
    import importlib

    worker = RenderWorker(deadline_s, **options)
    worker.start()

    def bounded_render_jinja_template(*args: Any, **kwargs: Any) -> Any:
        return worker.render(*args, **kwargs)

    # The defining module first: whatever imports the function later gets the bounded one. Modules that took
    # their own reference earlier are patched where they import; one that cannot import here (an optional
    # dependency missing) cannot render for the engine either.
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            if name == _MODULES[0]:
                raise
            continue
        if hasattr(module, "render_jinja_template"):
            module.render_jinja_template = bounded_render_jinja_template
    _worker = worker
    return worker


def take_render_args(argv: list[str], default: float | None = None) -> tuple[float | None, list[str]]:
    """`--render-timeout-s SECONDS` taken out of an engine's argument list (the engine itself does not know it)."""
    if "--render-timeout-s" not in argv:
        return default, argv
    at = argv.index("--render-timeout-s")
    if at + 1 >= len(argv):
        raise SystemExit("--render-timeout-s needs a number of seconds")
    try:
        seconds = float(argv[at + 1])
    except ValueError:
        raise SystemExit(f"--render-timeout-s: not a number: {argv[at + 1]!r}") from None
    if not 0 < seconds < float("inf"):
        raise SystemExit(f"--render-timeout-s must be a positive finite number, got {argv[at + 1]!r}")
    return seconds, [*argv[:at], *argv[at + 2 :]]


# -- the worker process ---------------------------------------------------------------------------------------


def _worker_main(fd: int, memory_bytes: int, max_output_chars: int) -> None:
    conn = Connection(fd)
    render = _original_render()  # imported before the memory limit: imports map more than they use
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        conn.send_bytes(b"ready")
        _serve(conn, render, max_output_chars)
    except (EOFError, OSError):
        return  # the engine closed the connection (it exited, or replaced this worker)


def _serve(conn: Connection, render: Callable[..., Any], max_output_chars: int) -> None:
    while True:
        args, kwargs = pickle.loads(conn.recv_bytes())
        try:
            value = render(*args, **kwargs)
            size = _text_size(value)
            if size > max_output_chars:
                raise TemplateRenderFailed(
                    f"chat template rendered {size} characters, more than the limit of {max_output_chars}"
                )
            answer = pickle.dumps((True, value), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            answer = pickle.dumps((False, TemplateRenderFailed("chat template render ran out of its memory limit")))
        except Exception as exc:  # the template's own error goes back to the engine as the engine would raise it
            try:
                answer = pickle.dumps((False, exc))
                pickle.loads(answer)
            except Exception:
                answer = pickle.dumps((False, ValueError(f"{type(exc).__name__}: {exc}")))
        conn.send_bytes(answer)


def _text_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_text_size(item) for item in value)
    return 0


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--worker":
    # Run as the module `bounded_render` (its folder is sys.path[0]), so the errors it sends back unpickle in the
    # engine as this module's classes, not as `__main__`'s.
    import bounded_render

    bounded_render._worker_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
