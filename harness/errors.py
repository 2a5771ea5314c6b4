"""The harness's one failure model: errors a user sees as one line, and stage failures a round records.

Why typed: a failure's class decides what the round does with the model (a policy rejection is a verdict, a
Hub that cannot be reached is tried again next round), so it must come from the exception's type, never from
its message text or its class name. `Failure` is the plain-data form (it pickles, so a Ray worker returns it)
and is what the state store records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class HarnessError(Exception):
    """An expected failure: bad input, unreachable service, missing engine. Exit code 2 by default."""

    exit_code = 2


@dataclass(frozen=True)
class Failure:
    """Why a model did not get through a stage: `stage` (policy, fetch, prepare, sandbox, evaluate, executor),
    `failure_class` (a stable id such as `rejected`, `hash-mismatch`, `unreachable`), the message, and whether
    the same model may succeed when tried again (`retryable`: the cause was ours or the network's, not the
    model's)."""

    stage: str
    failure_class: str
    message: str
    retryable: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: BaseException, stage: str) -> Failure:
        """The failure an exception stands for: its own when it is a `StageFailure`, else an unexpected `error`
        in `stage` (a bug: recorded with the exception's text, not retried)."""
        if isinstance(exc, StageFailure):
            return exc.failure
        return cls(stage, "error", f"{type(exc).__name__}: {exc}")

    def error(self) -> StageFailure:
        return StageFailure(self.stage, self.failure_class, self.message, self.details, retryable=self.retryable)


class StageFailure(HarnessError):
    """A model could not pass a stage; its `Failure` is recorded in the state store and the round goes on."""

    def __init__(
        self,
        stage: str,
        failure_class: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.failure_class = failure_class
        self.details = details or {}
        self.retryable = retryable

    @property
    def failure(self) -> Failure:
        return Failure(self.stage, self.failure_class, str(self), self.retryable, dict(self.details))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles whole (a custom constructor otherwise loses its arguments on the way back from a worker)."""
        return (_rebuild, (self.failure,))


def _rebuild(failure: Failure) -> StageFailure:
    return failure.error()
