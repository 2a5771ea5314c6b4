"""The Ray executor: each model's prepare and evaluation run as one Ray task on a worker host.

Why it is shaped this way:
- The worker does everything that touches the model: it fetches the pinned revision itself, verifies the hash,
  runs the policy on the fetched bytes and the sandbox on its own Docker engine (the same prepare and evaluate
  stages as on one host). Nothing from the model repo crosses to the head; only task records come back.
- The head keeps the store and the chain. A task returns its whole result (prepare verdict, per-task records,
  summary); the head writes it through `Supervisor.process_model`, so de-duplication, the one-evaluation-per-
  content lock and the idempotent (evaluation, task) keys are the same code as on one host.
- A lost node (its raylet or worker process dies) makes Ray run the task again on another node with a free
  `sandbox_slot` (`max_retries`). Nothing of the lost attempt was recorded (records travel only with a finished
  task), and the retry gets the same `done` (tasks recorded before a head restart), so each task is recorded
  exactly once. The cost of a loss is the lost attempt's compute.
- Copies cost compute: whether a model copies another is known only once its bytes are fetched on a worker, so
  two copies may both be evaluated remotely; the head keeps the earliest committer's and records the other as
  a copy, as on one host.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.errors import StageFailure
from harness.models.prepare import PreparedModel
from harness.round.executors.local import map_in_threads
from harness.settings.root import Settings

if TYPE_CHECKING:
    from chain.base import CommitmentRecord
    from harness.round.supervisor import (
        Candidate,
        EvaluateStage,
        EvaluationOutcome,
        ModelResult,
        PrepareStage,
        Supervisor,
    )

T = TypeVar("T")

SLOT_RESOURCE = "sandbox_slot"
REMOTE_KEY = "ray_evaluation"  # where the worker's result rides in `PreparedModel.facts` on the head
POLL_S = 0.5  # how often a waiting head thread looks at the stop signal


@dataclass(frozen=True)
class Failure:
    """A stage failure as plain data (an exception with a custom constructor does not survive pickling)."""

    stage: str
    failure_class: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: BaseException, stage: str) -> Failure:
        if isinstance(exc, StageFailure):
            return cls(exc.stage, exc.failure_class, str(exc), dict(exc.details))
        return cls(stage, "error", f"{type(exc).__name__}: {exc}")

    def error(self) -> StageFailure:
        return StageFailure(self.stage, self.failure_class, self.message, details=self.details)


@dataclass(frozen=True)
class RemoteEvaluation:
    """What a worker sends back for one model: its prepare result, then either its evaluation or the failure."""

    identity: str | None = None
    model_dir: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    prepare_failure: Failure | None = None
    records: list[tuple[str, float, dict[str, Any] | None]] = field(default_factory=list)
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    evaluate_failure: Failure | None = None
    node: str = ""
    placement: dict[str, Any] = field(default_factory=dict)  # the worker's node and the slot's GPU or cores


def _default_prepare(record: CommitmentRecord, settings: Settings) -> PreparedModel:
    from harness.round.supervisor import _default_prepare as prepare

    return prepare(record, settings)


def evaluate_on_worker(
    record: CommitmentRecord,
    settings: Settings,
    *,
    competition: str,
    seed: str,
    done: Mapping[str, Mapping[str, Any]],
    budget_s: float,
    prepare: PrepareStage | None,
    evaluate: EvaluateStage | None,
) -> RemoteEvaluation:
    """The body of the Ray task: prepare (fetch, hash, policy) and evaluate here, on this worker's Docker engine,
    in one of this host's sandbox slots (placement from this host's environment: `worker_host`).

    `prepare`/`evaluate` None means the real stages, built here from the settings (a sandbox stage holds a Docker
    client, which is this host's and is not sent over the wire)."""
    import ray

    from harness.round.executors.worker_host import hold_host_slot, host_settings, placement_of

    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    try:
        settings = host_settings(settings)
    except StageFailure as exc:
        return RemoteEvaluation(prepare_failure=Failure.of(exc, "executor"), node=node)
    prepare = prepare or _default_prepare
    if evaluate is None:
        from harness.evaluation.stage import SandboxEvaluateStage

        evaluate = SandboxEvaluateStage(settings)
    try:
        prepared = prepare(record, settings)
    except Exception as exc:
        return RemoteEvaluation(prepare_failure=Failure.of(exc, "prepare"), node=node)
    records: list[tuple[str, float, dict[str, Any] | None]] = []

    def keep(task_id: str, score: float, details: dict[str, Any] | None) -> None:
        records.append((task_id, score, details))

    result = RemoteEvaluation(
        identity=prepared.identity,
        model_dir=str(prepared.model_dir),
        facts=dict(prepared.facts),
        policy=prepared.policy,
        node=node,
    )
    deadline = time.monotonic() + budget_s
    try:
        with hold_host_slot(settings.sandbox, settings.paths.slots, deadline_s=budget_s) as slot:
            result = replace(result, placement={"node": node, **placement_of(settings.sandbox, slot)})
            outcome = evaluate(
                prepared,
                competition=competition,
                seed=seed,
                done=done,
                record=keep,
                deadline=deadline,
                stop=threading.Event(),
            )
    except Exception as exc:
        return replace(result, records=records, evaluate_failure=Failure.of(exc, "evaluate"))
    details = {**outcome.details, "placement": result.placement}
    return replace(result, records=records, score=outcome.score, details=details)


def replay_remote_evaluation(
    prepared: PreparedModel,
    *,
    competition: str,
    seed: str,
    done: Mapping[str, Mapping[str, Any]],
    record: Callable[[str, float, dict[str, Any] | None], None],
    deadline: float,
    stop: threading.Event,
) -> EvaluationOutcome:
    """The head's evaluate stage under Ray: records what the worker returned (tasks already recorded are kept as
    they are), then gives its summary or its failure, as if the evaluation had run here."""
    from harness.evaluation.contract import EvaluationOutcome

    remote: RemoteEvaluation = prepared.facts[REMOTE_KEY]
    for task_id, score, details in remote.records:
        if task_id not in done:
            record(task_id, score, details)
    if remote.evaluate_failure is not None:
        raise remote.evaluate_failure.error()
    assert remote.score is not None
    return EvaluationOutcome(score=remote.score, details=remote.details)


class RayExecutor:
    """Runs a round's models as Ray tasks, each holding one `sandbox_slot` of a worker node until it returns."""

    prepares_on_head = False  # the worker fetches and checks; the head downloads nothing

    def __init__(
        self,
        address: str,
        *,
        prepare: PrepareStage | None = None,
        evaluate: EvaluateStage | None = None,
        max_retries: int = 3,
        slots: int | None = None,
    ) -> None:
        self.address = address
        self.prepare = prepare
        self.evaluate = evaluate
        self.max_retries = max_retries
        self._slots = slots
        self._remote: Any = None

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, logging_level="WARNING")
        if self._remote is None:
            self._remote = ray.remote(evaluate_on_worker).options(
                resources={SLOT_RESOURCE: 1}, num_cpus=0, max_retries=self.max_retries, retry_exceptions=False
            )
        return ray

    def __bool__(self) -> bool:
        return True  # never `len()` (which joins the cluster) just to test whether an executor was given

    def __len__(self) -> int:
        """Models in flight at once: the cluster's sandbox slots (at least one, so a round waits for workers)."""
        if self._slots is None:
            ray = self._connect()
            self._slots = max(int(ray.cluster_resources().get(SLOT_RESOURCE, 0)), 1)
        return self._slots

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """The head side of each job runs in a thread of its own that waits on its Ray task; results in job order.
        Ray holds the slots, so a thread holds nothing."""
        return map_in_threads(jobs, len(self), contextlib.nullcontext, "ray")

    def process(self, supervisor: Supervisor, round_id: int, seed: str, candidate: Candidate) -> ModelResult:
        """One model: skip what was judged before a restart, else run it on a worker and record its result."""
        from harness.evaluation.contract import Stopped

        store, model = supervisor.store, candidate.model
        verdict = store.verdict(round_id, model.id)
        finished = store.evaluation_of(round_id, model.id)
        if (verdict is not None and not verdict[0]) or (finished is not None and finished.finished):
            return supervisor.process_model(round_id, seed, candidate)  # answers from the store, runs nothing
        done = (
            {
                task: {**(details or {}), "score": score}
                for task, (score, details) in store.task_results(finished.id).items()
            }
            if finished is not None
            else {}
        )
        commitment = candidate.record.commitment
        competition = (commitment.competition if commitment else None) or supervisor.config.default_competition
        ray = self._connect()
        ref = self._remote.remote(
            candidate.record,
            supervisor.settings,
            competition=competition,
            seed=seed,
            done=done,
            budget_s=supervisor.config.model_time_budget_s,
            prepare=self.prepare,
            evaluate=self.evaluate,
        )
        while not ray.wait([ref], timeout=POLL_S)[0]:
            if supervisor.stop_event.is_set():
                ray.cancel(ref, force=True)
                raise Stopped()
            supervisor.heartbeat = time.monotonic()
        outcome: Future[PreparedModel] = Future()
        try:
            remote: RemoteEvaluation = ray.get(ref)
        except Exception as exc:  # retries spent (every node that took it was lost): recorded, the round goes on
            outcome.set_exception(StageFailure("executor", "node-lost", f"{type(exc).__name__}: {exc}"))
        else:
            if remote.prepare_failure is not None:
                outcome.set_exception(remote.prepare_failure.error())
            else:
                assert remote.identity is not None
                prepared = PreparedModel(
                    model_dir=Path(remote.model_dir),
                    identity=remote.identity,
                    facts={**remote.facts, REMOTE_KEY: remote},
                    policy=remote.policy,
                )
                outcome.set_result(prepared)
        return supervisor.process_model(round_id, seed, replace(candidate, future=outcome))


def ray_executor_for(settings: Settings) -> RayExecutor:
    """The service's Ray executor: the real prepare and sandbox stages, built on each worker."""
    return RayExecutor(settings.supervisor.ray_address)
