"""JSON logs through the real processors (the metrics processor included), read back from captured stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from harness.logging import PROGRESS_BAR_SWITCHES, configure_logging
from tests.support.log_events import LogEvents


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[LogEvents]:
    """Logging as `harness run` configures it under systemd (JSON, level info); yields a reader of the events
    logged so far. Undone afterwards: the switches it sets and structlog's configuration."""
    for name in PROGRESS_BAR_SWITCHES:
        monkeypatch.delenv(name, raising=False)  # restored (absent or as it was) after the test
    configure_logging("info", json=True)
    lines: list[str] = []

    def events() -> list[dict[str, Any]]:
        lines.extend(capsys.readouterr().err.splitlines())
        return [json.loads(line) for line in lines if line.startswith("{")]

    yield events
    structlog.reset_defaults()
