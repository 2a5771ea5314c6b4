"""What the round asks of an executor: where one model's prepare and evaluate stages run, and how many at once.

The supervisor is the head: it alone reads and writes the state store and the chain, and it alone decides
what a model's result means (already judged, verdict, copy, score). An executor only runs stages and hands
their results back, so neither side reaches into the other:

- `local` runs the head's own stages here, each model in a sandbox slot of this host, prepared ahead;
- `ray` runs prepare and evaluate together as one Ray task on a worker host, and gives the head the worker's
  result as a typed value (`RemoteEvaluation`) whose task records the head then writes as if they ran here.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from chain.base import CommitmentRecord
from harness.evaluation.contract import EvaluateStage, EvaluationRequest, TaskRecorder
from harness.feed.tasks import FeedTasks
from harness.models.prepare import PreparedModel
from harness.settings.root import Settings

T = TypeVar("T")

PrepareStage = Callable[[CommitmentRecord, Settings], PreparedModel]
"""Policy, fetch and hash check of one commitment (`harness.models.prepare.prepare_record` for real)."""


@dataclass(frozen=True)
class ModelJob:
    """One model as the head hands it to an executor: everything a worker needs to prepare and evaluate it."""

    record: CommitmentRecord
    settings: Settings
    competition: str
    seed: str
    done: Mapping[str, Mapping[str, Any]]  # tasks recorded before a restart: kept, not asked again
    budget_s: float
    feed: FeedTasks | None = None  # the epoch's task feed as the head read it (travels with the job to a worker)
    round_left_s: float = math.inf
    """Seconds left of the round's time when the job was made (inf: an unbounded round). A worker, which the head
    cannot interrupt, ends its download and evaluation by then, counted from its task's start."""

    def request(
        self, record: TaskRecorder, stop: threading.Event, done: Mapping[str, Mapping[str, Any]] | None = None
    ) -> EvaluationRequest:
        """The job as its evaluate stage takes it, the model's time budget counted from now (the head passes the
        store's latest `done`; a worker keeps the job's)."""
        return EvaluationRequest(
            competition=self.competition,
            seed=self.seed,
            record=record,
            deadline=time.monotonic() + self.budget_s,
            stop=stop,
            done=self.done if done is None else done,
            feed=self.feed,
            model=_repo_of(self.record),
        )


def _repo_of(record: CommitmentRecord | None) -> str:
    """The committed repository, for progress logs ("" for a malformed commitment, or none in a scripted test)."""
    commitment = getattr(record, "commitment", None)
    return commitment.repo_id if commitment is not None else ""


@dataclass(frozen=True)
class ModelStages:
    """One model's stages as the head runs them: `prepare()` gives the prepared model or raises its
    `StageFailure`; `evaluate` runs (or replays) its tasks, each recorded by the head as it comes."""

    prepare: Callable[[], PreparedModel]
    evaluate: EvaluateStage


class Executor(Protocol):
    """Where a round's models run. `prepares_on_head`: the head prepares upcoming models ahead, in threads,
    while others are evaluated (false when a worker prepares its own)."""

    prepares_on_head: bool

    def __len__(self) -> int:
        """Models in flight at once."""
        ...

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run the head's side of each model's job, `len(self)` at once; results in job order. When one raises,
        jobs not yet started are not started and the first error is raised once the running ones return."""
        ...

    def stages(
        self, job: ModelJob, here: ModelStages, *, heartbeat: Callable[[], None], stop: threading.Event
    ) -> ModelStages:
        """The stages that run `job`: `here` (the head's own) or stand-ins for stages run elsewhere, which call
        `heartbeat` while they wait and give up (`Stopped`) once `stop` is set."""
        ...


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


class PastDeadline(Exception):
    """The round's deadline came while a model was still being prepared: it is carried, not judged (a head's wait
    for a download ended, or a worker's download was cut at the job's budget)."""
