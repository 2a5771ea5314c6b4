"""Seeded task generation: tool-call (generated and BFCL-format) and caption (procedural and JSONL).

Names are imported lazily so that loading settings (which needs only `harness.tasks.config`) does not pull in
Pillow and the generators.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TaskFamily": "harness.tasks.families",
    "TaskRecord": "harness.tasks.families",
    "build_family": "harness.tasks.build",
    "build_for_competition": "harness.tasks.build",
    "canonical_bytes": "harness.tasks.taskset",
    "family_names": "harness.tasks.families",
    "get_family": "harness.tasks.families",
    "load_task_set": "harness.tasks.taskset",
    "sha256_of": "harness.tasks.taskset",
    "write_task_set": "harness.tasks.taskset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness.tasks' has no attribute {name!r}")
