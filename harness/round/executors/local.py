"""The local executor: a round's models evaluated in parallel, one per sandbox slot of this host.

Jobs start in the order given (commit order), at most one per slot; a job holds its slot for its whole run, so
the sandbox it opens is pinned to that slot's GPU or cores. Results come back in job order whatever order the
jobs finish in. When a job raises (the supervisor's `Stopped`), jobs not yet started are cancelled, running
ones are left to see the same stop signal, and the first error is raised once all have returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from harness.round.executors.base import ModelJob, ModelStages, map_in_threads
from harness.sandbox.config import SandboxConfig
from harness.sandbox.pool import Slot, SlotPool, plan_slots

T = TypeVar("T")


class LocalExecutor:
    prepares_on_head = True  # models are checked and downloaded here, ahead of their slot

    def __init__(self, pool: SlotPool) -> None:
        self.pool = pool

    def stages(
        self, job: ModelJob, here: ModelStages, *, heartbeat: Callable[[], None], stop: threading.Event
    ) -> ModelStages:
        """The head's own stages: the slot's sandbox is on this host's Docker engine."""
        return here

    def __len__(self) -> int:
        return len(self.pool)

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run every job in a slot of its own; their results in job order."""
        return map_in_threads(jobs, len(self.pool), self.pool.hold, "slot")


def executor_for(config: SandboxConfig) -> LocalExecutor:
    """This host's executor from the sandbox settings (GPU pool or CPU slots)."""
    return LocalExecutor(SlotPool(plan_slots(config)))


def single_slot() -> LocalExecutor:
    """One model at a time on this host, its sandbox with the configured limits (tests, benchmarks)."""
    return LocalExecutor(SlotPool([Slot(0)]))
