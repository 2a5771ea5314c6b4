"""Structured logging: readable on a terminal, one JSON object per line under systemd or CI.

Logs go to stderr so that stdout stays free for machine-readable command output (`--json`).
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of the write, not at configure time: a stream replaced
    later (pytest's capture, a daemon's redirection) would otherwise leave loggers writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


# Third-party progress bars (tqdm: `Loading weights: 100%|...`) write carriage-return lines to stderr, which
# would land inside the one-JSON-object-per-line stream; they are turned off where logs are JSON.
PROGRESS_BAR_SWITCHES = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def configure_logging(level: str = "info", json: bool | None = None) -> None:
    """Configure structlog once per process; `json=None` picks JSON when stderr is not a TTY.

    Every event passes the metrics processor (harness/metrics/events.py) before the level filter, so the
    Prometheus counters see `info` events even when the operator logs at `warning`."""
    from harness.metrics.events import metrics_processor  # why: keeps prometheus_client out of import cycles

    if json is None:
        json = not sys.stderr.isatty()
    if json:
        for name, value in PROGRESS_BAR_SWITCHES.items():
            os.environ.setdefault(name, value)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )

    def drop_below_level(_logger: object, method: str, event_dict: dict) -> dict:  # type: ignore[type-arg]
        level = logging.getLevelName(method.upper())  # an unknown method name (`msg`) gives a str: kept
        if isinstance(level, int) and level < numeric:
            raise structlog.DropEvent
        return event_dict

    structlog.configure(
        processors=[
            metrics_processor,
            drop_below_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(min(numeric, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
