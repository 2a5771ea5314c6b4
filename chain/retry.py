"""Deadlines and retries shared by both chain backends.

A validator must never hang on a chain node and must not give up on the first dropped connection either:
every call gets a deadline, transient failures (timeouts, connection errors) are retried with exponential
backoff, and permanent ones (rejected extrinsic, rate limit, bad input) fail at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_none,
)

from chain.base import ChainError, ChainTimeout

T = TypeVar("T")
log = structlog.get_logger("chain")


class TransientChainError(ChainError):
    """A failure worth retrying (connection dropped, node busy)."""

    failure_class = "chain-unavailable"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    wait_s: float = 2.0
    max_wait_s: float = 30.0


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ChainTimeout | TransientChainError)


def call_with_retry(what: str, fn: Callable[[], T], policy: RetryPolicy) -> T:
    """Run `fn` until it succeeds, a permanent error occurs, or the attempts are spent (the last error is raised)."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("chain call failed, retrying", call=what, attempt=state.attempt_number, error=str(exc))

    retrying = Retrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=wait_exponential(multiplier=policy.wait_s, max=policy.max_wait_s) if policy.wait_s > 0 else wait_none(),
        retry=retry_if_exception(_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)
