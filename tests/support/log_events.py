"""The type of the `json_logs` fixture (tests/unit/harness/metrics/conftest.py), importable by the tests that take
it, since a test module imports nothing from another test module or conftest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Called with no argument: every JSON log event written so far, oldest first.
LogEvents = Callable[[], list[dict[str, Any]]]
