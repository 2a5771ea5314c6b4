"""The feed in a real `Supervisor` round (scripted prepare and evaluate on the real local chain and store): the
head reads the epoch's batch once at the round's start and the evaluation's task set carries its tasks; a bad
batch leaves a recorded `feed/<class>` and a full local set; a resumed round reuses what it read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest, Stopped
from harness.evaluation.stage import SandboxEvaluateStage
from harness.feed.source import batch_name
from harness.models.prepare import PreparedModel
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.state.store import Store
from harness.tasks.taskset import sha256_of
from harness.views.status import status_payload
from tests.support.rounds import Stages, commit


class TaskSetStage:
    """An evaluate stage that builds the competition's real task set from the request (as the sandbox stage
    does) and scores a task 1 when it came from the feed, else 0.5; it can stop the round after building."""

    def __init__(self, settings: Any) -> None:
        self.stage = SandboxEvaluateStage(settings)
        self.sets: list[dict] = []
        self.stop_first = False

    def __call__(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        task_set = self.stage.task_set(request.competition, request.seed, request.feed).task_set
        self.sets.append(task_set)
        if self.stop_first:
            self.stop_first = False
            raise Stopped()
        tasks = task_set["tasks"]
        scores = [1.0 if t["source"].startswith("feed:") else 0.5 for t in tasks]
        return EvaluationOutcome(score=sum(scores) / len(tasks), details={"sha256": sha256_of(task_set)})


def _supervisor(tmp_path: Path, chain: Any, settings: Any, stage: TaskSetStage) -> Supervisor:
    stages = Stages({"hk1": "i" * 64}, {"hk1": 1.0})
    return Supervisor(
        settings,
        chain,
        Store(tmp_path / "state.sqlite"),
        executor=single_slot(),
        evaluate=stage,
        prepare=stages.prepare,
    )


@pytest.fixture
def epoch10(chain10: Any, publish_batches: Any) -> Any:
    """A model committed before seed block 10, the batches for epochs 10 and 20 published, the chain at 10."""
    publish_batches([10, 20])
    commit(chain10, "hk1", "org/model", "a")
    chain10.advance(10 - chain10.current_block())
    return chain10


def test_a_round_evaluates_the_epochs_feed_tasks(tmp_path: Path, epoch10: Any, make_settings: Any) -> None:
    settings = make_settings()
    stage = TaskSetStage(settings)
    supervisor = _supervisor(tmp_path, epoch10, settings, stage)
    round_id = supervisor.run_round()
    (task_set,) = stage.sets
    feed = task_set["settings"]["toolcall"]["feed"]
    assert feed["epoch"] == 10 and len(feed["batch_sha256"]) == 64
    assert sum(t["source"].startswith("feed:") for t in task_set["tasks"]) == 16
    (evaluation,) = supervisor.store.read.evaluations(round_id)
    assert evaluation.score == pytest.approx((16 + 4 * 0.5) / 20)
    assert supervisor.store.read.failures(round_id) == []
    status = status_payload(supervisor.store)["feed"]
    assert status["status"] == "read" and status["batch_sha256"] == feed["batch_sha256"]


def test_a_round_with_a_missing_batch_records_the_failure_and_uses_local_tasks_only(
    tmp_path: Path, epoch10: Any, make_settings: Any, feed_dir: Path
) -> None:
    (feed_dir / batch_name(10)).unlink()
    settings = make_settings()
    stage = TaskSetStage(settings)
    supervisor = _supervisor(tmp_path, epoch10, settings, stage)
    round_id = supervisor.run_round()
    (task_set,) = stage.sets
    assert not any(t["source"].startswith("feed:") for t in task_set["tasks"]) and len(task_set["tasks"]) == 20
    failures = supervisor.store.read.failures(round_id)
    assert [(f["subject"], f["stage"], f["class"]) for f in failures] == [("round", "feed", "missing")]
    (evaluation,) = supervisor.store.read.evaluations(round_id)
    assert evaluation.score == 0.5
    assert status_payload(supervisor.store)["feed"]["failure"] == "feed/missing"


def test_a_resumed_round_reuses_the_batch_it_read_even_when_the_source_is_gone(
    tmp_path: Path, epoch10: Any, make_settings: Any, feed_dir: Path
) -> None:
    settings = make_settings()
    stage = TaskSetStage(settings)
    stage.stop_first = True
    first = _supervisor(tmp_path, epoch10, settings, stage)
    with pytest.raises(Stopped):
        first.run_round()
    first.store.close()
    (feed_dir / batch_name(10)).unlink()  # the source changes after the round read it
    resumed = _supervisor(tmp_path, epoch10, settings, stage)
    resumed.run_round()
    before, after = stage.sets
    assert sha256_of(before) == sha256_of(after)
    assert sum(t["source"].startswith("feed:") for t in after["tasks"]) == 16


def test_a_miners_selftest_builds_the_task_set_the_round_evaluates_feed_included(
    tmp_path: Path, epoch10: Any, make_settings: Any
) -> None:
    """Selftest reads the epoch's seed and feed through the validator's reader (`current_epoch_feed`) and builds
    its tasks through the same stage: byte-identical to the set the round evaluated, a block into the epoch."""
    from harness.miner.selftest import current_epoch_feed

    settings = make_settings()
    stage = TaskSetStage(settings)
    _supervisor(tmp_path, epoch10, settings, stage).run_round()
    (round_set,) = stage.sets
    epoch10.advance(3)  # the miner runs it later in the same epoch
    seed, feed = current_epoch_feed(make_settings("miner"), epoch10)
    assert feed is not None and feed.ok and seed == epoch10.block_hash(10)
    miner_set = SandboxEvaluateStage(make_settings("miner")).task_set("toolcall", seed, feed).task_set
    assert sha256_of(miner_set) == sha256_of(round_set)
    assert sum(t["source"].startswith("feed:") for t in miner_set["tasks"]) == 16


def test_harness_tasks_with_epoch_exports_the_set_the_round_evaluated(
    tmp_path: Path, epoch10: Any, make_settings: Any, feed_dir: Path, alice: Any, monkeypatch: Any, capsys: Any
) -> None:
    """An auditor rebuilds a round's tool-call tasks with `harness tasks --seed HASH --epoch BLOCK`."""
    from harness.cli.app import main
    from harness.tasks.taskset import load_task_set

    settings = make_settings()
    stage = TaskSetStage(settings)
    _supervisor(tmp_path, epoch10, settings, stage).run_round()
    (round_set,) = stage.sets
    env = {
        "HARNESS_CACHE_DIR": str(tmp_path / "auditor"),
        "HARNESS_CHAIN__LOCAL_DB": str(epoch10.path),
        "HARNESS_CHAIN__BLOCK_PERIOD_S": "0",
        "HARNESS_CHAIN__LOCAL_TEMPO": "10",
        "HARNESS_TASKS__FEED_URL": str(feed_dir),
        "HARNESS_TASKS__FEED_CURATOR": alice.ss58_address,
        "HARNESS_TASKS__TOOLCALL_N": "20",
        "HARNESS_TASKS__BFCL_FRACTION": "0",
        "HARNESS_TASKS__FEED_FRACTION": str(settings.tasks.feed_fraction),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "tasks.json"
    assert main(["tasks", "--seed", round_set["seed"], "--epoch", "10", "--out", str(out)]) == 0
    exported = load_task_set(out)  # one family's set: the round's competition set nests settings per family
    assert exported["tasks"] == round_set["tasks"]
    assert exported["settings"] == round_set["settings"]["toolcall"]
    assert main(["tasks", "--seed", round_set["seed"], "--epoch", "20", "--out", str(out)]) == 0
    assert "feed/locked" in capsys.readouterr().out  # epoch 20 has not opened: local tasks, and the set says so
    assert load_task_set(out)["settings"]["feed"]["failure"] == "locked"
