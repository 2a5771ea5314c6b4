"""Wiring of the validator service from settings: chain, store, stages, status endpoint, signals.

Kept apart from the round logic (harness/round/supervisor.py) so tests can build a supervisor with other stages,
and apart from the CLI so `harness run` and `harness round --once` share one construction.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from chain.factory import open_chain
from harness.evaluation.stage import SandboxEvaluateStage
from harness.fingerprint import scoring_fingerprint
from harness.logging import get_logger
from harness.metrics.exposition import metrics_endpoint
from harness.round.executors.local import executor_for
from harness.round.executors.ray_executor import ray_executor_for
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store
from harness.views.status import status_payload
from harness.views.status_server import StatusServer
from harness.web.site import ResultsSite

log = get_logger(__name__)


def build_supervisor(settings: Settings) -> Supervisor:
    """The validator's supervisor with the executor the settings pick (`supervisor.executor`)."""
    chain = open_chain(settings.chain, Path(settings.cache_dir))
    store = Store(settings.paths.state_db)
    if settings.supervisor.executor == "ray":  # workers run both stages; the head records what they return
        return Supervisor(settings, chain, store, executor=ray_executor_for(settings))
    return Supervisor(
        settings,
        chain,
        store,
        evaluate=SandboxEvaluateStage(settings),
        executor=executor_for(settings.sandbox),
    )


@contextlib.contextmanager
def stop_on_signals(supervisor: Supervisor) -> Iterator[None]:
    """SIGTERM/SIGINT ask the supervisor to checkpoint and stop; a second SIGINT interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        log.info("stopping: finishing or checkpointing the current step", signal=signal.Signals(signum).name)
        supervisor.request_stop()
        if signum == signal.SIGINT and received.count(signal.SIGINT) > 1:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def status_endpoint(supervisor: Supervisor) -> Iterator[StatusServer | None]:
    """`/health`, `/status`, the results pages and `/metrics` (Prometheus; docs/operations.md) on
    `supervisor.status_port`, for as long as the `with` block runs; nothing when no port is set."""
    config = supervisor.settings.supervisor
    if config.status_port is None:
        yield None
        return
    server = StatusServer(
        config.status_host,
        config.status_port,
        status=lambda: status_payload(supervisor.store),
        alive=supervisor.alive,
        site=ResultsSite(supervisor.settings, supervisor.store),
        metrics=metrics_endpoint(
            supervisor.store, Path(supervisor.settings.cache_dir), lambda: scoring_fingerprint().value
        ),
    ).start()
    base = f"http://{config.status_host}:{server.port}"
    log.info("status endpoint", url=f"{base}/status", metrics=f"{base}/metrics")
    try:
        yield server
    finally:
        server.stop()
