"""What the harness asks of a sandbox, whatever runs it (in the manner of inspect_ai's SandboxEnvironment).

Lifecycle: start and stop are one context manager (`SandboxStart`: entering starts the engine and returns once
it is healthy, leaving stops it and removes everything it made, on every exit); while it runs, `client` gives a chat
engine for requests, `health` says whether the engine is still up, and `classify` turns a failed request into
the failure the evaluation records. Errors are typed: `SandboxError` is the model's failure (crash, OOM,
start timeout), recorded against it; `SandboxUnavailable` is the host's (no engine to run containers, a missing
image), never the model's. The Docker runtime (`harness.sandbox.runtime`) is one implementation; the evaluation
stage and tests depend only on this module.
"""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Protocol, runtime_checkable

from harness.errors import HarnessError
from harness.sandbox.engine import FailureClass


@runtime_checkable
class ChatEngine(Protocol):
    """What evaluation needs from an engine: one OpenAI-compatible chat completion.

    `payload` is the `/v1/chat/completions` body (model, messages, tools, max_tokens, temperature, seed); the
    result is the raw response JSON. Failures raise an exception whose `failure_class` attribute is one of
    `request-timeout`, `bad-response`, `crashed`.
    """

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]: ...


class SandboxError(HarnessError):
    """The model's engine failed in a way the evaluation records: `failure_class` plus the engine's last logs."""

    def __init__(self, failure_class: FailureClass, reason: str, logs: str = "") -> None:
        message = f"sandbox {failure_class}: {reason}"
        if logs.strip():
            message += "\n--- last container log lines ---\n" + logs.rstrip()
        super().__init__(message)
        self.failure_class: FailureClass = failure_class
        self.reason = reason
        self.logs = logs


class SandboxUnavailable(HarnessError):
    """The host cannot run sandboxes (no container engine answers, an image is missing): not the model's fault."""


class Sandbox(abc.ABC):
    """A running, healthy engine; valid only while its provider's `with` block runs."""

    @abc.abstractmethod
    def client(self, **limits: Any) -> contextlib.AbstractAsyncContextManager[ChatEngine]:
        """An async context manager giving a `ChatEngine` for this sandbox; `limits` override the sandbox's own
        (evaluation passes `request_timeout`)."""

    @abc.abstractmethod
    def health(self) -> bool:
        """True while the engine still runs; a failed request of a sandbox that is not healthy ends the run."""

    @abc.abstractmethod
    def classify(self, error: BaseException) -> HarnessError:
        """The failure to record for the model when a request showed its engine is gone (`SandboxError` with
        what the container runtime saw, e.g. `oom` rather than `crashed`)."""


SandboxStart = contextlib.AbstractContextManager[Sandbox]
"""Start and stop: entering starts the engine and yields the `Sandbox` once healthy; leaving (on any exit) stops
it and removes what it made. `harness.sandbox.runtime.run_sandbox` is the Docker one."""
