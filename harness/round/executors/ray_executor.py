"""The Ray executor: each model's prepare and evaluation run as one Ray task on a worker host.

Why it is shaped this way:
- The worker does everything that touches the model: it fetches the pinned revision itself, verifies the hash,
  runs the policy on the fetched bytes and the sandbox on its own Docker engine (the same prepare and evaluate
  stages as on one host). Nothing from the model repo crosses to the head; only task records come back.
- The head keeps the store and the chain. A task returns its whole result (`RemoteEvaluation`: prepare verdict,
  per-task records, summary); the head gets it through the model's stages (`RayExecutor.stages`: prepare waits
  for the task, evaluate replays its records), so de-duplication, the one-evaluation-per-content lock and the
  idempotent (evaluation, task) keys are the supervisor's, the same code as on one host.
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
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import Failure, HarnessError, StageFailure
from harness.evaluation.contract import EvaluateStage, EvaluationOutcome, EvaluationRequest, Stopped, TaskRecorder
from harness.evaluation.stage import SandboxEvaluateStage
from harness.models.prepare import PreparedModel, prepare_record
from harness.round.executors.base import ModelJob, ModelStages, PastDeadline, PrepareStage, map_in_threads
from harness.round.executors.worker_host import hold_host_slot, host_settings, placement_of
from harness.settings.root import Settings

T = TypeVar("T")

SLOT_RESOURCE = "sandbox_slot"
POLL_S = 0.5  # how often a waiting head thread looks at the stop signal


@dataclass(frozen=True)
class RemoteEvaluation:
    """What a worker sends back for one model: its prepare result, then either its evaluation or the failure."""

    identity: str | None = None
    model_dir: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    sketch: bytes | None = None
    sketch_error: str | None = None
    prepare_failure: Failure | None = None
    records: list[tuple[str, float, dict[str, Any] | None]] = field(default_factory=list)
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    evaluate_failure: Failure | None = None
    node: str = ""
    past_deadline: bool = False
    """The round's time (`ModelJob.round_left_s`) ran out before the evaluation could start: carried."""
    placement: dict[str, Any] = field(default_factory=dict)  # the worker's node and the slot's GPU or cores

    def prepared(self) -> PreparedModel:
        """The prepared model as the head sees it (its files stay on the worker), or the prepare failure, or
        `PastDeadline` when the worker ran out of the round's time before evaluating."""
        if self.past_deadline:
            raise PastDeadline()
        if self.prepare_failure is not None:
            raise self.prepare_failure.error()
        assert self.identity is not None
        return PreparedModel(
            model_dir=Path(self.model_dir),
            identity=self.identity,
            facts=self.facts,
            policy=self.policy,
            sketch=self.sketch,
            sketch_error=self.sketch_error,
        )


def evaluate_on_worker(
    job: ModelJob, *, prepare: PrepareStage | None, evaluate: EvaluateStage | None
) -> RemoteEvaluation:
    """The body of the Ray task: prepare (fetch, hash, policy) and evaluate here, on this worker's Docker engine,
    in one of this host's sandbox slots (placement from this host's environment: `worker_host`).

    `prepare`/`evaluate` None means the real stages, built here from the settings (a sandbox stage holds a Docker
    client, which is this host's and is not sent over the wire)."""
    import ray  # why: an optional dependency, present where a Ray task runs

    started = time.monotonic()  # the round's time left (`round_left_s`) counts from here, download included
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    try:
        settings = host_settings(job.settings)
    except StageFailure as exc:
        return RemoteEvaluation(prepare_failure=exc.failure, node=node)
    prepare = prepare or prepare_record
    evaluate = evaluate or SandboxEvaluateStage(settings)
    # The download ends where the round's time does: a worker cannot tell the head's wait to stop, so it stops
    # itself (on one host the head stops waiting and the download goes on to fill the cache for the next round).
    round_end = started + job.round_left_s
    budget_bound = job.round_left_s < settings.fetch.model_deadline_s
    if budget_bound:
        fetch = settings.fetch.model_copy(update={"model_deadline_s": job.round_left_s})
        settings = settings.model_copy(update={"fetch": fetch})

    def left() -> float:
        return round_end - time.monotonic()

    try:
        prepared = prepare(job.record, settings)
    except Exception as exc:
        if budget_bound and left() <= 0:
            return RemoteEvaluation(past_deadline=True, node=node)
        return RemoteEvaluation(prepare_failure=Failure.of(exc, "prepare"), node=node)
    if left() <= 0:  # prepared, but nothing is left to evaluate in: no engine is started for a cut evaluation
        return RemoteEvaluation(past_deadline=True, node=node)
    records: list[tuple[str, float, dict[str, Any] | None]] = []

    def keep(task_id: str, score: float, details: dict[str, Any] | None) -> None:
        records.append((task_id, score, details))

    result = RemoteEvaluation(
        identity=prepared.identity,
        model_dir=str(prepared.model_dir),
        facts=dict(prepared.facts),
        policy=prepared.policy,
        sketch=prepared.sketch,
        sketch_error=prepared.sketch_error,
        node=node,
    )
    # the model's own budget from now (its download not counted, as on one host), or the round's end if sooner
    request = job.request(keep, threading.Event())
    request = replace(request, deadline=min(request.deadline, round_end))
    slot_wait_s = max(min(left(), job.budget_s), 0.0)
    try:
        with hold_host_slot(settings.sandbox, settings.paths.slots, deadline_s=slot_wait_s) as slot:
            result = replace(result, placement={"node": node, **placement_of(settings.sandbox, slot)})
            outcome = evaluate(prepared, request)
    except Exception as exc:
        return replace(result, records=records, evaluate_failure=Failure.of(exc, "evaluate"))
    details = {**outcome.details, "placement": result.placement}
    return replace(result, records=records, score=outcome.score, details=details)


def replay_remote_evaluation(
    remote: RemoteEvaluation, *, done: Mapping[str, Mapping[str, Any]], record: TaskRecorder
) -> EvaluationOutcome:
    """What the worker returned, as if the evaluation had run here: its task records (tasks recorded before are
    kept as they are), then its summary or its failure."""
    for task_id, score, details in remote.records:
        if task_id not in done:
            record(task_id, score, details)
    if remote.evaluate_failure is not None:
        raise remote.evaluate_failure.error()
    assert remote.score is not None
    return EvaluationOutcome(score=remote.score, details=remote.details)


class _RemoteModel:
    """One model's stages under Ray, for the head: `prepare` runs the Ray task (prepare and evaluate on a worker)
    and waits for it; `evaluate` replays the result it got."""

    def __init__(
        self, submit: Callable[[ModelJob], Any], job: ModelJob, heartbeat: Callable[[], None], stop: threading.Event
    ) -> None:
        self.submit = submit
        self.job = job
        self.heartbeat = heartbeat
        self.stop = stop
        self.result: RemoteEvaluation | None = None

    def prepare(self) -> PreparedModel:
        import ray  # why: an optional dependency, needed only with this executor

        ref = self.submit(self.job)
        while not ray.wait([ref], timeout=POLL_S)[0]:
            if self.stop.is_set():
                ray.cancel(ref, force=True)
                raise Stopped()
            self.heartbeat()
        try:
            self.result = ray.get(ref)
        except Exception as exc:  # retries spent (every node that took it was lost): recorded, the round goes on
            raise StageFailure("executor", "node-lost", f"{type(exc).__name__}: {exc}", retryable=True) from None
        return self.result.prepared()

    def evaluate(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        assert self.result is not None, "evaluate before prepare"
        return replay_remote_evaluation(self.result, done=request.done, record=request.record)


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
        import ray  # why: an optional dependency, needed only with this executor

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, logging_level="WARNING")
        if self._remote is None:
            self._remote = ray.remote(evaluate_on_worker).options(
                resources={SLOT_RESOURCE: 1}, num_cpus=0, max_retries=self.max_retries, retry_exceptions=False
            )
        return ray

    def _submit(self, job: ModelJob) -> Any:
        self._connect()
        return self._remote.remote(job, prepare=self.prepare, evaluate=self.evaluate)

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

    def stages(
        self, job: ModelJob, here: ModelStages, *, heartbeat: Callable[[], None], stop: threading.Event
    ) -> ModelStages:
        """Both stages on a worker: `prepare` waits for the Ray task, `evaluate` replays what it recorded."""
        remote = _RemoteModel(self._submit, job, heartbeat, stop)
        return ModelStages(prepare=remote.prepare, evaluate=remote.evaluate)


def ray_address_exposure(address: str, resolve: Callable[[str], list[str]] | None = None) -> str | None:
    """Why `address` may be reachable from outside the cluster's private network, or None when it is `auto`,
    `local`, loopback or a private address (a host name counts by every address it resolves to).

    Why it matters: Ray's ports are unauthenticated; whoever reaches the head submits jobs, i.e. runs code on
    every node (the validator's hotkey included)."""
    text = address.strip()
    text = text.removeprefix("ray://")
    if text in ("", "auto", "local"):
        return None
    if text.startswith("["):  # [IPv6]:port
        host = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") > 1:  # a bare IPv6 address
        host = text
    else:
        host = text.rsplit(":", 1)[0] if ":" in text else text
    if host.lower() == "localhost":
        return None
    try:
        addresses = [host] if _is_ip(host) else (resolve or _resolve)(host)
    except OSError as exc:
        return f"cannot be resolved to check that it is private ({exc.strerror or exc})"
    for found in sorted(set(addresses)):
        ip = ipaddress.ip_address(found.split("%", 1)[0])
        if not (ip.is_loopback or ip.is_private) or ip.is_unspecified:
            shown = host if found == host else f"{host} ({found})"
            return f"is {shown}, neither loopback nor a private address"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolve(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def check_ray_address(address: str, secured: bool, resolve: Callable[[str], list[str]] | None = None) -> None:
    """Refuse (one line) a Ray address outside loopback and private networks unless the operator said that a
    firewall keeps its ports to the cluster's hosts (`supervisor.ray_address_secured`)."""
    exposure = ray_address_exposure(address, resolve)
    if exposure is not None and not secured:
        raise HarnessError(
            f"supervisor.ray_address {address!r} {exposure}: Ray's ports are unauthenticated (whoever reaches them "
            "runs code); use a loopback or private address, or firewall the ports to the cluster's hosts and set "
            "supervisor.ray_address_secured=true (docs/scale.md, Security)"
        )


def ray_executor_for(settings: Settings) -> RayExecutor:
    """The service's Ray executor: the real prepare and sandbox stages, built on each worker. The head's address
    is checked first (`check_ray_address`)."""
    check_ray_address(settings.supervisor.ray_address, settings.supervisor.ray_address_secured)
    return RayExecutor(settings.supervisor.ray_address)
