"""Seeded task generation: tool-call (generated and BFCL-format) and caption (procedural and JSONL)."""

from harness.tasks.build import FAMILIES, build_family, build_for_competition
from harness.tasks.taskset import canonical_bytes, load_task_set, sha256_of, write_task_set

__all__ = [
    "FAMILIES",
    "build_family",
    "build_for_competition",
    "canonical_bytes",
    "load_task_set",
    "sha256_of",
    "write_task_set",
]
