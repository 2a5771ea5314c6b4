"""Where a round's per-model evaluations run: `local` (this host's sandbox slots) or `ray` (worker nodes)."""

from harness.round.executors.local import LocalExecutor, executor_for
from harness.round.executors.ray_executor import RayExecutor, ray_executor_for, replay_remote_evaluation

__all__ = ["LocalExecutor", "RayExecutor", "executor_for", "ray_executor_for", "replay_remote_evaluation"]
