"""A Ray worker host's own placement: its environment's placement fields over the head's settings, and one
host-wide slot per GPU or cpuset held with a file lock, across processes (Ray tasks are processes)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest
from harness.models.prepare import PreparedModel
from harness.round.executors.base import ModelJob
from harness.round.executors.ray_executor import evaluate_on_worker
from harness.round.executors.worker_host import hold_host_slot, host_settings
from harness.sandbox.config import SandboxConfig
from harness.sandbox.pool import current_overrides
from harness.settings.root import Settings


def test_worker_takes_placement_from_its_environment_and_everything_else_from_the_head(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head = Settings(sandbox={"memory_limit": "3g", "cpuset_cpus": "0-7"}, tasks={"toolcall_n": 3})
    assert host_settings(head) is head  # no placement set on this host: the head's settings as they are
    monkeypatch.setenv("HARNESS_SANDBOX__CPUSET_CPUS", "1")
    monkeypatch.setenv("HARNESS_SANDBOX__GPU_DEVICES", '["2", "3"]')
    local = host_settings(head)
    assert local.sandbox.cpuset_cpus == "1" and local.sandbox.gpu_devices == ["2", "3"]
    assert local.sandbox.memory_limit == "3g" and local.tasks.toolcall_n == 3  # not placement: the head's
    assert head.sandbox.cpuset_cpus == "0-7"  # the head's object is not changed
    monkeypatch.setenv("HARNESS_SANDBOX__CPU_SLOTS", "zero")
    with pytest.raises(StageFailure, match=r"this worker's environment: sandbox\.cpu_slots") as failure:
        host_settings(head)
    assert (failure.value.stage, failure.value.failure_class) == ("executor", "worker-config")  # not the model's


def _hold(config: SandboxConfig, lock_dir: Path, got: Any, release: Any) -> None:
    with hold_host_slot(config, lock_dir, deadline_s=30) as slot:
        got.put({**slot.overrides(), "pid": os.getpid(), "bound": current_overrides()})
        release.wait(30)


def _holder(config: SandboxConfig, lock_dir: Path) -> tuple[multiprocessing.Process, Any, Any]:
    context = multiprocessing.get_context("fork")
    got, release = context.Queue(), context.Event()
    process = context.Process(target=_hold, args=(config, lock_dir, got, release), daemon=True)
    process.start()
    return process, got.get(timeout=30), release


def test_two_processes_get_different_gpus_and_a_third_waits_for_one(tmp_path: Path) -> None:
    config = SandboxConfig(engine="sglang", gpu_devices=["0", "1"])
    first, first_slot, first_release = _holder(config, tmp_path)
    second, second_slot, second_release = _holder(config, tmp_path)
    assert {first_slot["gpu_device"], second_slot["gpu_device"]} == {"0", "1"}
    assert first_slot["bound"] == {"gpu_device": first_slot["gpu_device"]}  # the sandbox opened inside takes it
    with pytest.raises(StageFailure, match="no free sandbox slot"), hold_host_slot(config, tmp_path, deadline_s=0.5):
        pass
    first_release.set()
    first.join(10)
    with hold_host_slot(config, tmp_path, deadline_s=5) as slot:
        assert slot.gpu_device == first_slot["gpu_device"]  # the freed GPU, never the one still held
    second_release.set()
    second.join(10)


def test_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    config = SandboxConfig(cpuset_cpus="1")  # one slot pinned to core 1: two workers on one host share this lock
    holder, _slot, _release = _holder(config, tmp_path)
    with pytest.raises(StageFailure, match="no free sandbox slot"), hold_host_slot(config, tmp_path, deadline_s=0.5):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with hold_host_slot(config, tmp_path, deadline_s=5):
        pass


def test_unpinned_cpu_slots_share_the_host_without_a_lock(tmp_path: Path) -> None:
    config = SandboxConfig()  # a CPU quota pins no core, so nothing is exclusive
    holder, _slot, release = _holder(config, tmp_path)
    with hold_host_slot(config, tmp_path, deadline_s=0.5):
        pass
    release.set()
    holder.join(10)


def test_worker_evaluates_in_its_hosts_slot_and_reports_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def prepare(_record: Any, settings: Settings) -> PreparedModel:
        return PreparedModel(model_dir=tmp_path, identity="i", facts={})

    def evaluate(prepared: PreparedModel, _request: EvaluationRequest) -> EvaluationOutcome:
        seen.append(current_overrides())
        return EvaluationOutcome(score=0.5, details={"n": 1})

    monkeypatch.setenv("HARNESS_SANDBOX__CPU_SLOTS", "2")
    monkeypatch.setattr("harness.sandbox.pool.host_cores", lambda: [0, 1, 2, 3])
    head = Settings(cache_dir=tmp_path)
    job = ModelJob(None, head, competition="toolcall", seed="s", done={}, budget_s=30)  # type: ignore[arg-type]
    result = evaluate_on_worker(job, prepare=prepare, evaluate=evaluate)  # the scripted prepare reads no record
    assert result.evaluate_failure is None and result.score == 0.5
    assert seen == [{"cpuset_cpus": "0,1", "cpus": 2.0}]  # this host's first slot of two, not the head's one
    assert result.placement == {"node": "", "cpuset_cpus": "0,1", "cpus": 2.0}
    assert result.details == {"n": 1, "placement": result.placement}
    assert list((tmp_path / "slots").glob("slot-*.lock")), "the slot was claimed host-wide"


def test_a_worker_with_more_slots_than_cores_fails_as_its_own_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_SANDBOX__CPU_SLOTS", "64")
    monkeypatch.setattr("harness.sandbox.pool.host_cores", lambda: [0, 1])
    job = ModelJob(None, Settings(cache_dir=tmp_path), "toolcall", "s", done={}, budget_s=30)  # type: ignore[arg-type]
    result = evaluate_on_worker(
        job,
        prepare=lambda _record, _settings: PreparedModel(model_dir=tmp_path, identity="i", facts={}),
        evaluate=lambda _prepared, _request: pytest.fail("no slot, no evaluation"),
    )
    assert result.evaluate_failure is not None
    assert (result.evaluate_failure.stage, result.evaluate_failure.failure_class) == ("executor", "worker-config")
    assert "64 CPU slots need at least 64 cores" in result.evaluate_failure.message
