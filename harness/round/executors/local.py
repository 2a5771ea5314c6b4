"""The local executor: a round's models evaluated in parallel, one per sandbox slot of this host.

Jobs start in the order given (commit order), at most one per slot; a job holds its slot for its whole run, so
the sandbox it opens is pinned to that slot's GPU or cores. Results come back in job order whatever order the
jobs finish in. When a job raises (the supervisor's `Stopped`), jobs not yet started are cancelled, running
ones are left to see the same stop signal, and the first error is raised once all have returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from harness.sandbox.config import SandboxConfig
from harness.sandbox.pool import SlotPool, plan_slots

if TYPE_CHECKING:
    from harness.round.supervisor import Candidate, ModelResult, Supervisor

T = TypeVar("T")


class LocalExecutor:
    prepares_on_head = True  # models are checked and downloaded here, ahead of their slot

    def __init__(self, pool: SlotPool) -> None:
        self.pool = pool

    def process(self, supervisor: Supervisor, round_id: int, seed: str, candidate: Candidate) -> ModelResult:
        """One model, in this process (the slot's sandbox is on this host's Docker engine)."""
        return supervisor.process_model(round_id, seed, candidate)

    def __len__(self) -> int:
        return len(self.pool)

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run every job in a slot of its own; their results in job order."""
        return map_in_threads(jobs, len(self.pool), self.pool.hold, "slot")


def map_in_threads(
    jobs: Sequence[Callable[[], T]], workers: int, hold: Callable[[], AbstractContextManager[Any]], name: str
) -> list[T]:
    """Jobs on `workers` threads, each inside `hold()`; results in job order. When a job raises, jobs not yet
    started are not started, running ones return, and the first error is raised."""
    failed = threading.Event()

    def guarded(job: Callable[[], T]) -> T | None:
        with hold():
            if failed.is_set():
                return None  # an earlier job raised: this one is not started
            try:
                return job()
            except BaseException:
                failed.set()
                raise

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as threads:
        futures = [threads.submit(guarded, job) for job in jobs]
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except BaseException:
                threads.shutdown(wait=True, cancel_futures=True)
                raise
        return results  # type: ignore[return-value]  (None only when a job raised, and then this raised)


def executor_for(config: SandboxConfig) -> LocalExecutor:
    """This host's executor from the sandbox settings (GPU pool or CPU slots)."""
    return LocalExecutor(SlotPool(plan_slots(config)))
