"""The Ray executor on a real local Ray cluster: a head and two worker nodes, each a `ray start` process group.

The prepare and evaluate stages are scripted (module-level, sent to the workers by value) so the tests pin the
distribution: which node ran what, what the head recorded, and what happens when a worker node dies mid-model.
Each worker node has one `sandbox_slot`; the head has none, so every model runs on a worker.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chain.base import CommitmentRecord
from chain.commitment import format as format_commitment
from chain.local import LocalChain
from harness.errors import Failure, StageFailure
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest
from harness.models.prepare import PreparedModel
from harness.round.executors.base import ModelJob, PastDeadline
from harness.round.executors.ray_executor import (
    RayExecutor,
    RemoteEvaluation,
    evaluate_on_worker,
    replay_remote_evaluation,
)
from harness.round.service import build_supervisor
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store
from tests.support.ray_cluster import WAIT_S, LocalCluster, local_cluster
from tests.support.rounds import answer_tasks

ray = pytest.importorskip("ray")

SHA = "a" * 40
TASKS = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster() as built:
        for module in (__name__, answer_tasks.__module__):  # workers need not import tests/
            ray.cloudpickle.register_pickle_by_value(sys.modules[module])
        for _ in range(2):  # one at a time: two nodes starting together time out on a busy 2-core host
            built.add_worker(slots=1)
        yield built


class WorkerStages:
    """Scripted stages that run on the worker: identities and per-task scores per hotkey; each task leaves a
    marker file (hotkey, pid) so the test can see where and when a model is being evaluated."""

    def __init__(self, markers: Path, identities: dict[str, str], quality: dict[str, float]) -> None:
        self.markers = markers
        self.identities = identities
        self.quality = quality
        self.task_s: dict[str, float] = {}
        self.rejected: set[str] = set()

    def prepare(self, record: Any, _settings: Settings) -> PreparedModel:
        if record.hotkey in self.rejected:
            raise StageFailure("policy", "rejected", "pickle: pytorch_model.bin", details={"violations": []})
        return PreparedModel(model_dir=Path("/nonexistent"), identity=self.identities[record.hotkey], facts={})

    def evaluate(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        hotkey = next(h for h, identity in self.identities.items() if identity == prepared.identity)
        node = ray.get_runtime_context().get_node_id()

        def answer(task: str) -> tuple[float, dict[str, Any]]:
            (self.markers / f"{hotkey}.{task}.{os.getpid()}").write_text(node)
            time.sleep(self.task_s.get(hotkey, 0.1))
            return self.quality[hotkey], {"node": node, "pid": os.getpid()}

        return EvaluationOutcome(score=answer_tasks(request, TASKS, answer), details={"node": node})


def _commit(chain: LocalChain, hotkey: str, tag: str) -> None:
    chain.register(hotkey)
    chain.commit(hotkey, format_commitment(f"org/{hotkey}", SHA, (tag * 64)[:64]))
    chain.advance(1)


def _supervisor(tmp_path: Path, chain: LocalChain, stages: WorkerStages, cluster: LocalCluster) -> Supervisor:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        scoring={"weights_method": "proportional", "new_model_prior": None, "ema_alpha": 0.5},
        supervisor={"executor": "ray", "ray_address": cluster.address},
    )
    executor = RayExecutor(cluster.address, prepare=stages.prepare, evaluate=stages.evaluate, max_retries=3)
    return Supervisor(settings, chain, Store(tmp_path / "state.sqlite"), executor=executor)


def _tasks(store: Store, round_id: int) -> dict[int, dict[str, tuple[float, dict[str, Any] | None]]]:
    return {e.model_id: store.read.task_results(e.id) for e in store.read.evaluations(round_id)}


def test_head_replays_worker_records_keeping_tasks_recorded_before_and_the_failure() -> None:
    remote = RemoteEvaluation(
        identity="i",
        records=[("t0", 0.1, {"n": "worker"}), ("t1", 0.9, {"n": "worker"})],
        evaluate_failure=Failure("sandbox", "crashed", "engine exited with 139"),
    )
    recorded: list[tuple[str, float]] = []
    with pytest.raises(StageFailure) as failure:
        replay_remote_evaluation(
            remote,
            done={"t0": {"score": 0.5}},
            record=lambda task, score, _details: recorded.append((task, score)),
        )
    assert recorded == [("t1", 0.9)]  # t0 was recorded before a restart and stays as it was
    assert (failure.value.stage, failure.value.failure_class) == ("sandbox", "crashed")


def _job(tmp_path: Path, hotkey: str, done: dict[str, dict[str, Any]] | None = None) -> ModelJob:
    record = CommitmentRecord.from_raw(0, hotkey, 1, format_commitment(f"org/{hotkey}", SHA, "1" * 64))
    settings = Settings(cache_dir=tmp_path / "cache")
    return ModelJob(record, settings, competition="toolcall", seed="s", done=done or {}, budget_s=30.0)


def _prepare_here(record: Any, _settings: Settings) -> PreparedModel:
    if record.hotkey == "bad":
        raise StageFailure("policy", "rejected", "pickle: pytorch_model.bin", details={"violations": []})
    return PreparedModel(model_dir=Path("/nonexistent"), identity=f"i{record.hotkey}", facts={})


def _evaluate_here(_prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
    return EvaluationOutcome(score=answer_tasks(request, TASKS, lambda _task: (0.5, {"pid": os.getpid()})))


def test_a_worker_runs_both_stages_and_returns_a_typed_result(tmp_path: Path) -> None:
    """The body of the Ray task, run in this process: the worker's records and summary, or its prepare failure
    as the one `Failure` type (it pickles), come back as fields of `RemoteEvaluation`."""
    remote = evaluate_on_worker(
        _job(tmp_path, "a", done={"t0": {"score": 1.0}}), prepare=_prepare_here, evaluate=_evaluate_here
    )
    assert remote.prepared().identity == "ia" and remote.prepare_failure is None
    assert [task for task, _, _ in remote.records] == ["t1", "t2", "t3"]  # t0 was done before: not asked again
    assert remote.score == pytest.approx((1.0 + 3 * 0.5) / TASKS)
    rejected = evaluate_on_worker(_job(tmp_path, "bad"), prepare=_prepare_here, evaluate=_evaluate_here)
    assert isinstance(rejected.prepare_failure, Failure) and rejected.records == []
    assert (rejected.prepare_failure.stage, rejected.prepare_failure.failure_class) == ("policy", "rejected")
    with pytest.raises(StageFailure, match="pickle"):
        rejected.prepared()


def test_a_worker_stops_at_the_rounds_deadline_download_included(tmp_path: Path) -> None:
    """The head cannot interrupt a Ray task, so the worker bounds itself by the round's time left when the job was
    sent: the download gets at most that as its deadline, a model prepared with no time left is carried (no engine
    started), and the evaluation ends by the round's end counted from the task's start."""
    seen: dict[str, float] = {}

    def slow_download(_record: Any, settings: Settings) -> PreparedModel:
        seen["fetch_deadline_s"] = settings.fetch.model_deadline_s
        time.sleep(0.4)
        raise StageFailure("fetch", "hub-unreachable", "body not received before the deadline")

    def slow_but_done(_record: Any, _settings: Settings) -> PreparedModel:
        time.sleep(0.4)
        return PreparedModel(model_dir=Path("/nonexistent"), identity="late", facts={})

    def never(_prepared: PreparedModel, _request: EvaluationRequest) -> EvaluationOutcome:
        raise AssertionError("an engine was started with no time left")

    short = replace(_job(tmp_path, "a"), round_left_s=0.3)
    cut = evaluate_on_worker(short, prepare=slow_download, evaluate=never)
    assert seen["fetch_deadline_s"] == pytest.approx(0.3), "the download was not bounded by the round's time"
    assert cut.past_deadline and cut.prepare_failure is None
    with pytest.raises(PastDeadline):
        cut.prepared()  # the head carries it: not a failure of the model's
    assert evaluate_on_worker(short, prepare=slow_but_done, evaluate=never).past_deadline

    # A model's own failure within the budget stays its failure.
    bad = evaluate_on_worker(replace(_job(tmp_path, "bad"), round_left_s=0.3), prepare=_prepare_here, evaluate=never)
    assert not bad.past_deadline and bad.prepare_failure is not None and bad.prepare_failure.stage == "policy"

    deadlines: list[float] = []

    def timed(prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        deadlines.append(request.deadline - time.monotonic())
        return _evaluate_here(prepared, request)

    def takes_a_while(record: Any, settings: Settings) -> PreparedModel:
        seen["long_fetch_deadline_s"] = settings.fetch.model_deadline_s
        time.sleep(0.5)
        return _prepare_here(record, settings)

    done = evaluate_on_worker(replace(_job(tmp_path, "a"), round_left_s=2.0), prepare=takes_a_while, evaluate=timed)
    assert done.score is not None and not done.past_deadline
    assert deadlines[0] <= 1.6, "the evaluation got the round's whole time again after its download"
    assert seen["long_fetch_deadline_s"] == pytest.approx(2.0)
    # In an unbounded round the model's own budget counts from the end of its download, as on one host.
    unbounded = replace(_job(tmp_path, "a"), budget_s=5.0)
    assert evaluate_on_worker(unbounded, prepare=takes_a_while, evaluate=timed).score is not None
    assert deadlines[1] == pytest.approx(5.0, abs=0.3)
    assert seen["long_fetch_deadline_s"] == Settings().fetch.model_deadline_s


def test_service_with_ray_executor_leaves_both_stages_to_the_workers_and_joins_lazily(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, supervisor={"executor": "ray", "ray_address": "10.0.0.1:6379"})
    sup = build_supervisor(settings)
    assert isinstance(sup.executor, RayExecutor) and sup.executor.address == "10.0.0.1:6379"
    assert not sup.executor.prepares_on_head
    assert sup.executor.prepare is None and sup.executor.evaluate is None  # the real stages, built on each worker
    assert not ray.is_initialized() or ray.get_runtime_context().gcs_address != "10.0.0.1:6379"  # joins lazily


@pytest.mark.slow
def test_round_runs_every_model_on_the_workers_and_the_head_records_it(
    tmp_path: Path, chain: LocalChain, cluster: LocalCluster
) -> None:
    quality = {"a": 0.9, "b": 0.6, "c": 0.3, "copy": 0.9, "bad": 0.5}
    for index, hotkey in enumerate(quality):
        _commit(chain, hotkey, str(index))
    identities = {"a": "ia", "b": "ib", "c": "ic", "copy": "ia", "bad": "ibad"}
    markers = tmp_path / "markers"
    markers.mkdir()
    stages = WorkerStages(markers, identities, quality)
    stages.rejected.add("bad")
    sup = _supervisor(tmp_path, chain, stages, cluster)
    assert len(sup.executor) == 2  # one model per worker's sandbox slot

    round_id = sup.run_round()

    board = {row["hotkey"]: row["score"] for row in sup.store.read.leaderboard(round_id)}
    assert board == {"a": pytest.approx(0.9), "b": pytest.approx(0.6), "c": pytest.approx(0.3)}
    tasks = _tasks(sup.store, round_id)
    assert len(tasks) == 3 and all(sorted(rows) == [f"t{i}" for i in range(TASKS)] for rows in tasks.values())
    nodes = {details["node"] for rows in tasks.values() for _, details in rows.values() if details}
    assert len(nodes) == 2, "both worker nodes evaluated models"
    failures = sorted((f["stage"], f["class"]) for f in sup.store.read.failures(round_id))
    assert failures == [("dedupe", "copy"), ("policy", "rejected")]
    assert chain.last_weights() is not None and sup.store.read.get_round(round_id).status == "done"


@pytest.mark.slow
def test_stop_cancels_the_ray_tasks_and_a_restarted_head_finishes_the_round(
    tmp_path: Path, chain: LocalChain, cluster: LocalCluster
) -> None:
    quality = {"a": 0.4, "b": 0.8}
    for index, hotkey in enumerate(quality):
        _commit(chain, hotkey, str(index))
    markers = tmp_path / "markers"
    markers.mkdir()
    stages = WorkerStages(markers, {"a": "ia", "b": "ib"}, quality)
    stages.task_s = {"a": 1.0, "b": 1.0}
    sup = _supervisor(tmp_path, chain, stages, cluster)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            sup.run_round()
        except BaseException as exc:
            raised.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    deadline = time.monotonic() + WAIT_S
    while not list(markers.glob("*.t0.*")):
        assert time.monotonic() < deadline and runner.is_alive(), "no evaluation started"
        time.sleep(0.1)
    sup.request_stop()
    runner.join(timeout=WAIT_S)
    assert [type(exc).__name__ for exc in raised] == ["Stopped"]
    round_id = sup.store.read.current_round().id
    assert all(not rows for rows in _tasks(sup.store, round_id).values()), "a cancelled task recorded nothing"

    resumed = _supervisor(tmp_path, chain, stages, cluster)
    assert resumed.run_round() == round_id
    board = {row["hotkey"]: row["score"] for row in resumed.store.read.leaderboard(round_id)}
    assert board == {"a": pytest.approx(0.4), "b": pytest.approx(0.8)}
    assert all(sorted(rows) == [f"t{i}" for i in range(TASKS)] for rows in _tasks(resumed.store, round_id).values())


@pytest.mark.slow
def test_worker_node_killed_mid_evaluation_is_retried_on_the_other_node_once(
    tmp_path: Path, chain: LocalChain, cluster: LocalCluster
) -> None:
    _commit(chain, "victim", "1")
    quality = {"victim": 0.7}
    markers = tmp_path / "markers"
    markers.mkdir()
    stages = WorkerStages(markers, {"victim": "iv"}, quality)
    stages.task_s["victim"] = 1.0
    sup = _supervisor(tmp_path, chain, stages, cluster)
    finished: list[int] = []
    runner = threading.Thread(target=lambda: finished.append(sup.run_round()), daemon=True)
    runner.start()

    deadline = time.monotonic() + WAIT_S
    while not list(markers.glob("victim.t1.*")):  # the first task is recorded on the worker, the second running
        assert time.monotonic() < deadline and runner.is_alive(), "the evaluation never started"
        time.sleep(0.1)
    (first,) = markers.glob("victim.t1.*")  # exactly one attempt marked; glob order is not defined
    killed_node = first.read_text()
    victim_node = cluster.node_of(int(first.name.rsplit(".", 1)[1]))
    cluster.crash(victim_node)

    runner.join(timeout=WAIT_S)
    assert not runner.is_alive() and finished, "the round did not finish after the node was lost"
    round_id = finished[0]
    rows = _tasks(sup.store, round_id)
    assert len(rows) == 1
    (results,) = rows.values()
    assert sorted(results) == [f"t{i}" for i in range(TASKS)]
    # Every recorded task comes from the retry on the surviving node: nothing of the lost attempt, no mixing.
    assert {details["node"] for _, details in results.values() if details} == {
        n.read_text() for n in markers.glob("victim.t3.*")
    }
    assert killed_node not in {details["node"] for _, details in results.values() if details}
    assert len(list(markers.glob("victim.t0.*"))) == 2, "the evaluation ran twice: once lost, once retried"
    board = {row["hotkey"]: row["score"] for row in sup.store.read.leaderboard(round_id)}
    assert board == {"victim": pytest.approx(0.7)}
    assert sup.store.read.failures(round_id) == []
