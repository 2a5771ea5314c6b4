"""The Ray executor on a real local Ray cluster: a head and two worker nodes, each a `ray start` process group.

The prepare and evaluate stages are scripted (module-level, sent to the workers by value) so the tests pin the
distribution: which node ran what, what the head recorded, and what happens when a worker node dies mid-model.
Each worker node has one `sandbox_slot`; the head has none, so every model runs on a worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chain.commitment import format as format_commitment
from chain.local import LocalChain
from chain.retry import RetryPolicy
from harness.config import Settings
from harness.executors.ray_executor import (
    REMOTE_KEY,
    Failure,
    RayExecutor,
    RemoteEvaluation,
    replay_remote_evaluation,
)
from harness.prepare import PreparedModel, StageFailure
from harness.store import Store
from harness.supervisor import EvaluationOutcome, Supervisor

ray = pytest.importorskip("ray")

SHA = "a" * 40
TASKS = 4
WAIT_S = 120  # every wait on the cluster is bounded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Cluster:
    address: str
    head: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]

    def node_of(self, pid: int) -> subprocess.Popen[bytes]:
        """The worker node (its `ray start` process) that a process descends from."""
        starts = {node.pid: node for node in self.workers}
        while pid > 1 and pid not in starts:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent's pid
        return starts[pid]


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`ray start --block` in a session of its own: killing that process group removes the whole node."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    with log.open("ab") as out:
        return subprocess.Popen(
            [ray_bin, "start", "--block", "--disable-usage-stats", "--object-store-memory", str(100 * 1024**2), *args],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Ray's raylet and workers need not stay in the node's process group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def _crash(node: subprocess.Popen[bytes]) -> None:
    """The node dies as a host would: every one of its processes SIGKILLed at once, nothing drained."""
    for pid in _descendants(node.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    node.wait(timeout=10)


def _stop(node: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            return
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(1)  # the group's other processes (raylet, workers) get their own SIGTERM's moment


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {
        **os.environ,
        "RAY_health_check_period_ms": "500",  # a killed node is declared dead in seconds, not the default ~30 s
        "RAY_health_check_failure_threshold": "3",
        "RAY_health_check_initial_delay_ms": "500",
        "RAY_raylet_start_wait_time_s": "120",  # a loaded CI host starts a raylet slowly
    }
    port = _free_port()

    def node_ports() -> list[str]:
        return [
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
        ]

    head = _ray_start(
        [
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--num-cpus=0",
            f"--temp-dir={temp}",
            *node_ports(),
        ],
        env,
        Path(temp, "head.log"),
    )
    address = f"127.0.0.1:{port}"
    workers: list[subprocess.Popen[bytes]] = []
    built = Cluster(address, head, workers)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _listening(port):  # ray.init would wait minutes on a head that failed to start
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(0.5)
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests/
        for index in range(2):  # one at a time: two nodes starting together time out on a busy 2-core host
            worker = _ray_start(
                [
                    f"--address={address}",
                    "--node-ip-address=127.0.0.1",
                    "--num-cpus=1",
                    '--resources={"sandbox_slot": 1}',
                    *node_ports(),
                ],
                env,
                Path(temp, f"worker{index}.log"),
            )
            workers.append(worker)
            while ray.cluster_resources().get("sandbox_slot", 0) < index + 1:
                assert worker.poll() is None, f"worker {index} did not start: {Path(temp, f'worker{index}.log')}"
                assert time.monotonic() < deadline, f"cluster not up: {ray.cluster_resources()}"
                time.sleep(0.5)
        yield built
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in [*workers, head]:
            _stop(node)


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

    def evaluate(
        self,
        prepared: PreparedModel,
        *,
        competition: str,
        seed: str,
        done: Mapping[str, Mapping[str, Any]],
        record: Any,
        deadline: float,
        stop: threading.Event,
    ) -> EvaluationOutcome:
        hotkey = next(h for h, identity in self.identities.items() if identity == prepared.identity)
        node = ray.get_runtime_context().get_node_id()
        scores = {task: float(row["score"]) for task, row in done.items()}
        for index in range(TASKS):
            task = f"t{index}"
            if task in done:
                continue
            (self.markers / f"{hotkey}.{task}.{os.getpid()}").write_text(node)
            time.sleep(self.task_s.get(hotkey, 0.1))
            scores[task] = self.quality[hotkey]
            record(task, scores[task], {"node": node, "pid": os.getpid()})
        return EvaluationOutcome(score=sum(scores.values()) / TASKS, details={"node": node})


def _commit(chain: LocalChain, hotkey: str, tag: str) -> None:
    chain.register(hotkey)
    chain.commit(hotkey, format_commitment(f"org/{hotkey}", SHA, (tag * 64)[:64]))
    chain.advance(1)


def _supervisor(tmp_path: Path, chain: LocalChain, stages: WorkerStages, cluster: Cluster) -> Supervisor:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        scoring={"weights_method": "proportional", "new_model_prior": None, "ema_alpha": 0.5},
        supervisor={"executor": "ray", "ray_address": cluster.address},
    )
    executor = RayExecutor(cluster.address, prepare=stages.prepare, evaluate=stages.evaluate, max_retries=3)
    return Supervisor(
        settings, chain, Store(tmp_path / "state.sqlite"), evaluate=replay_remote_evaluation, executor=executor
    )


def _tasks(store: Store, round_id: int) -> dict[int, dict[str, tuple[float, dict[str, Any] | None]]]:
    return {e.model_id: store.task_results(e.id) for e in store.evaluations(round_id)}


def test_head_replays_worker_records_keeping_tasks_recorded_before_and_the_failure() -> None:
    remote = RemoteEvaluation(
        identity="i",
        records=[("t0", 0.1, {"n": "worker"}), ("t1", 0.9, {"n": "worker"})],
        evaluate_failure=Failure("sandbox", "crashed", "engine exited with 139"),
    )
    prepared = PreparedModel(model_dir=Path("/nonexistent"), identity="i", facts={REMOTE_KEY: remote})
    recorded: list[tuple[str, float]] = []
    with pytest.raises(StageFailure) as failure:
        replay_remote_evaluation(
            prepared,
            competition="toolcall",
            seed="s",
            done={"t0": {"score": 0.5}},
            record=lambda task, score, _details: recorded.append((task, score)),
            deadline=0.0,
            stop=threading.Event(),
        )
    assert recorded == [("t1", 0.9)]  # t0 was recorded before a restart and stays as it was
    assert (failure.value.stage, failure.value.failure_class) == ("sandbox", "crashed")


def test_service_with_ray_executor_runs_stages_on_workers_and_replays_on_the_head(tmp_path: Path) -> None:
    from harness.service import build_supervisor

    settings = Settings(cache_dir=tmp_path, supervisor={"executor": "ray", "ray_address": "10.0.0.1:6379"})
    sup = build_supervisor(settings)
    assert isinstance(sup.executor, RayExecutor) and sup.executor.address == "10.0.0.1:6379"
    assert sup.evaluate is replay_remote_evaluation and not sup.executor.prepares_on_head
    assert sup.executor.evaluate is None  # the sandbox stage is built on each worker, with its own Docker engine
    assert not ray.is_initialized() or ray.get_runtime_context().gcs_address != "10.0.0.1:6379"  # joins lazily


@pytest.fixture
def chain(tmp_path: Path) -> LocalChain:
    return LocalChain(tmp_path / "chain.sqlite", block_period_s=0, retry=RetryPolicy(attempts=3, wait_s=0))


@pytest.mark.slow
def test_round_runs_every_model_on_the_workers_and_the_head_records_it(
    tmp_path: Path, chain: LocalChain, cluster: Cluster
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

    board = {row["hotkey"]: row["score"] for row in sup.store.leaderboard(round_id)}
    assert board == {"a": pytest.approx(0.9), "b": pytest.approx(0.6), "c": pytest.approx(0.3)}
    tasks = _tasks(sup.store, round_id)
    assert len(tasks) == 3 and all(sorted(rows) == [f"t{i}" for i in range(TASKS)] for rows in tasks.values())
    nodes = {details["node"] for rows in tasks.values() for _, details in rows.values() if details}
    assert len(nodes) == 2, "both worker nodes evaluated models"
    failures = sorted((f["stage"], f["class"]) for f in sup.store.failures(round_id))
    assert failures == [("dedupe", "copy"), ("policy", "rejected")]
    assert chain.last_weights() is not None and sup.store.get_round(round_id).status == "done"


@pytest.mark.slow
def test_stop_cancels_the_ray_tasks_and_a_restarted_head_finishes_the_round(
    tmp_path: Path, chain: LocalChain, cluster: Cluster
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
    round_id = sup.store.current_round().id
    assert all(not rows for rows in _tasks(sup.store, round_id).values()), "a cancelled task recorded nothing"

    resumed = _supervisor(tmp_path, chain, stages, cluster)
    assert resumed.run_round() == round_id
    board = {row["hotkey"]: row["score"] for row in resumed.store.leaderboard(round_id)}
    assert board == {"a": pytest.approx(0.4), "b": pytest.approx(0.8)}
    assert all(sorted(rows) == [f"t{i}" for i in range(TASKS)] for rows in _tasks(resumed.store, round_id).values())


@pytest.mark.slow
def test_worker_node_killed_mid_evaluation_is_retried_on_the_other_node_once(
    tmp_path: Path, chain: LocalChain, cluster: Cluster
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
    first = next(markers.glob("victim.t1.*"))
    killed_node = first.read_text()
    victim_node = cluster.node_of(int(first.name.rsplit(".", 1)[1]))
    _crash(victim_node)
    cluster.workers.remove(victim_node)  # the fixture must not wait on it again

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
    board = {row["hotkey"]: row["score"] for row in sup.store.leaderboard(round_id)}
    assert board == {"victim": pytest.approx(0.7)}
    assert sup.store.failures(round_id) == []
