"""Where a round's per-model evaluations run: `local` (this host's sandbox slots)."""

from harness.executors.local import LocalExecutor, executor_for

__all__ = ["LocalExecutor", "executor_for"]
