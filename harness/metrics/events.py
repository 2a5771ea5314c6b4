"""Metrics only this process sees, fed by the structured log events the service already emits.

Why from logs: every step of a round already logs one event with its facts (`sandbox.started`, `sandbox.healthy`
with its seconds, `task.progress`, `evaluated`...). A structlog processor turns those into Prometheus samples in
one place, so no round code calls a metrics API; a step that stops logging shows up as a flat series.

What the state database already holds (rounds, evaluations, failures by class, weights) is read from it at scrape
time instead (`store_collector.py`): those counters survive restarts and cannot disagree with `/status`. Only
what the store does not record lives here: sandbox starts and engine start times, rounds skipped because the chain
was down, and the task progress of the models being evaluated now.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SANDBOX_STARTS = Counter(
    "harness_sandbox_starts_total", "Sandbox containers started by this process.", registry=REGISTRY
)
ENGINE_START_SECONDS = Histogram(
    "harness_engine_start_seconds",
    "Seconds from a sandbox container's start to a healthy engine.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200),
    registry=REGISTRY,
)
ROUNDS_SKIPPED = Counter(
    "harness_rounds_skipped_total",
    "Rounds this process skipped because the chain was unavailable.",
    registry=REGISTRY,
)
# One series per model being evaluated now (several with several sandbox slots), removed when its evaluation
# concludes: the label's values stay bounded by the slots, not by the models ever seen.
TASKS_DONE = Gauge("harness_tasks_done", "Tasks finished of a model being evaluated now.", ["model"], registry=REGISTRY)
TASKS_TOTAL = Gauge("harness_tasks_total", "Tasks of a model being evaluated now.", ["model"], registry=REGISTRY)
MODEL_IN_PROGRESS = Gauge(
    "harness_model_in_progress",
    "1 for each model (label: its repository) being evaluated now; no series when none is.",
    ["model"],
    registry=REGISTRY,
)
_PROGRESS_GAUGES = (TASKS_DONE, TASKS_TOTAL, MODEL_IN_PROGRESS)
_progress_lock = threading.Lock()
_in_progress: set[str] = set()


def _task_progress(fields: dict[str, Any]) -> None:
    model, done, total = fields.get("model"), fields.get("done"), fields.get("total")
    if not isinstance(model, str) or not model or not isinstance(done, int) or not isinstance(total, int):
        return
    with _progress_lock:
        _in_progress.add(model)
        TASKS_DONE.labels(model=model).set(done)
        TASKS_TOTAL.labels(model=model).set(total)
        MODEL_IN_PROGRESS.labels(model=model).set(1)


def _evaluation_concluded(fields: dict[str, Any]) -> None:
    """Scored, failed or cut by the round's deadline: the model is no longer in progress."""
    model = fields.get("model")
    with _progress_lock:
        if not isinstance(model, str) or model not in _in_progress:
            return  # evaluated elsewhere (a Ray worker) or never started: no series to remove
        _in_progress.discard(model)
        for gauge in _PROGRESS_GAUGES:
            with contextlib.suppress(KeyError):
                gauge.remove(model)


def _sandbox_healthy(fields: dict[str, Any]) -> None:
    seconds = fields.get("seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        ENGINE_START_SECONDS.observe(float(seconds))


# The event names are the ones harness/sandbox/runtime.py, harness/round/supervisor.py and
# harness/metrics/progress.py log; tests/unit/harness/metrics pins that each still fires.
_HANDLERS = {
    "sandbox.started": lambda _f: SANDBOX_STARTS.inc(),
    "sandbox.healthy": _sandbox_healthy,
    "round skipped: chain unavailable": lambda _f: ROUNDS_SKIPPED.inc(),
    "task.progress": _task_progress,
    "task.progress.end": _evaluation_concluded,
    "evaluated": _evaluation_concluded,
    "evaluation failed": _evaluation_concluded,
    "evaluation cut by the round's deadline": _evaluation_concluded,
}


def observe_event(event: str, fields: dict[str, Any]) -> None:
    """Update the metrics one log event stands for; any other event costs one dict lookup."""
    handler = _HANDLERS.get(event)
    if handler is not None:
        handler(fields)


def metrics_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: count the event, pass it on unchanged. Never raises into the caller's logging."""
    with contextlib.suppress(Exception):  # a metrics bug must not break the round that logged
        observe_event(str(event_dict.get("event", "")), event_dict)
    return event_dict
