"""Sandbox slots on one host and the local executor: N models at once, each sandbox pinned to its own slot."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from chain.local import LocalChain
from harness.round.executors.local import LocalExecutor, executor_for
from harness.round.supervisor import Supervisor
from harness.sandbox import SandboxConfig, SandboxSpec, container_kwargs
from harness.sandbox.pool import Slot, SlotPool, current_overrides, plan_slots, split_cores
from harness.settings.root import Settings
from harness.state.store import Store
from tests.support.rounds import Stages, commit, weights_by_hotkey


def test_gpu_pool_pins_one_sandbox_per_device() -> None:
    config = SandboxConfig(engine="sglang", gpu_devices=["0", "GPU-abc", "3"])
    slots = plan_slots(config)
    assert [s.gpu_device for s in slots] == ["0", "GPU-abc", "3"]
    for slot in slots:
        spec = SandboxSpec.from_settings(config, **slot.overrides())
        requests = container_kwargs(spec, Path("/m"), Path("/s"), name="t")["device_requests"]
        assert [r["DeviceIDs"] for r in requests] == [[slot.gpu_device]]


def test_single_gpu_device_setting_is_a_pool_of_one() -> None:
    assert [s.gpu_device for s in plan_slots(SandboxConfig(engine="sglang", gpu_device="1"))] == ["1"]
    with pytest.raises(ValueError, match="gpu_devices"):
        plan_slots(SandboxConfig(engine="sglang"))


@pytest.mark.parametrize("devices", [["0", "0"], ["all"], ["0,1"], [""]])
def test_gpu_devices_that_would_share_or_widen_a_gpu_are_refused(devices: list[str]) -> None:
    with pytest.raises(ValidationError):
        SandboxConfig(gpu_devices=devices)


def test_cpu_slots_split_the_cores_without_overlap() -> None:
    slots = plan_slots(SandboxConfig(cpu_slots=3), cores=[0, 1, 2, 3, 4, 5, 6])
    assert [s.cpuset for s in slots] == ["0,1,2", "3,4", "5,6"]
    assert [s.cores for s in slots] == [3, 2, 2]
    spec = SandboxSpec.from_settings(SandboxConfig(), **slots[1].overrides())
    kwargs = container_kwargs(spec, Path("/m"), Path("/s"), name="t")
    assert kwargs["cpuset_cpus"] == "3,4"
    assert kwargs["nano_cpus"] == 2_000_000_000
    assert kwargs["environment"]["OMP_NUM_THREADS"] == "2"
    with pytest.raises(ValueError, match="need at least 3 cores"):
        split_cores([0, 1], 3)


def test_one_cpu_slot_keeps_the_configured_limits() -> None:
    assert plan_slots(SandboxConfig()) == [Slot(0)]
    assert Slot(0).overrides() == {}


def test_a_slot_is_never_held_by_two_jobs_and_binds_the_holders_sandbox() -> None:
    pool = SlotPool(plan_slots(SandboxConfig(cpu_slots=2), cores=[0, 1]))
    holders: dict[str, int] = {}
    seen: list[dict] = []
    overlap: list[str] = []
    lock = threading.Lock()

    def job() -> None:
        with pool.hold() as slot:
            with lock:
                if slot.cpuset in holders:
                    overlap.append(slot.cpuset or "")
                holders[slot.cpuset or ""] = 1
                seen.append(current_overrides())
            threading.Event().wait(0.01)
            with lock:
                del holders[slot.cpuset or ""]

    threads = [threading.Thread(target=job) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap == []
    assert {o["cpuset_cpus"] for o in seen} == {"0", "1"}
    assert current_overrides() == {}


def test_executor_runs_as_many_jobs_at_once_as_slots() -> None:
    """Two jobs that each wait for the other finish only if both run at the same time."""
    executor = LocalExecutor(SlotPool([Slot(0), Slot(1)]))
    both = threading.Barrier(2, timeout=10)

    def job(value: int) -> int:
        both.wait()
        return value

    assert executor.map([lambda v=v: job(v) for v in (1, 2)]) == [1, 2]
    alone = LocalExecutor(SlotPool([Slot(0)]))
    with pytest.raises(threading.BrokenBarrierError):
        alone.map([lambda: threading.Barrier(2, timeout=0.5).wait()])


def test_executor_raises_the_first_error_and_skips_jobs_not_started() -> None:
    executor = LocalExecutor(SlotPool([Slot(0)]))
    ran: list[int] = []

    def job(value: int) -> int:
        ran.append(value)
        if value == 1:
            raise KeyError("stop")
        return value

    with pytest.raises(KeyError):
        executor.map([lambda v=v: job(v) for v in range(5)])
    assert ran == [0, 1]


def test_executor_from_settings() -> None:
    assert len(executor_for(SandboxConfig(engine="sglang", gpu_devices=["0", "1"]))) == 2


def test_round_on_two_slots_records_every_model_once(tmp_path: Path, chain: LocalChain) -> None:
    """Four models on two CPU slots: each evaluated once, in a sandbox pinned to a slot, copies still lose."""
    for hotkey, tag in [("a", "1"), ("b", "2"), ("c", "3"), ("copy", "1")]:
        commit(chain, hotkey, f"org/{hotkey}", tag)
    stages = Stages({"a": "ia", "b": "ib", "c": "ic", "copy": "ia"}, {"a": 0.9, "b": 0.5, "c": 0.1, "copy": 0.9})
    pinned: dict[str, str] = {}
    evaluate = stages.evaluate

    def evaluate_in_slot(prepared, request):
        pinned[prepared.facts["hotkey"]] = current_overrides()["cpuset_cpus"]
        return evaluate(prepared, request)

    settings = Settings(cache_dir=tmp_path / "cache", scoring={"weights_method": "proportional"})
    executor = LocalExecutor(SlotPool(plan_slots(SandboxConfig(cpu_slots=2), cores=[0, 1])))
    sup = Supervisor(
        settings,
        chain,
        Store(tmp_path / "s.sqlite"),
        evaluate=evaluate_in_slot,
        prepare=stages.prepare,
        executor=executor,
    )
    sup.run_round()
    # The copy and its original may race to the same content: it is evaluated once, by whichever got there first.
    evaluated = sorted(stages.identities[hotkey] for hotkey in stages.evaluated)
    assert evaluated == ["ia", "ib", "ic"]
    assert set(pinned.values()) <= {"0", "1"} and len(pinned) == 3
    weights = weights_by_hotkey(chain)
    assert weights.get("copy", 0.0) == 0.0
    assert weights["a"] > weights["b"] > weights["c"]
    assert len(stages.task_calls) == 12


def test_a_copy_and_its_original_in_two_slots_are_not_evaluated_at_once(tmp_path: Path, chain: LocalChain) -> None:
    """Both reach evaluation together; without the per-content lock both would run (and both meet here)."""
    commit(chain, "orig", "org/orig", "1")
    commit(chain, "copy", "org/copy", "1")
    stages = Stages({"orig": "same", "copy": "same"}, {"orig": 0.7, "copy": 0.7})
    meet = threading.Barrier(2, timeout=2)
    met: list[bool] = []
    evaluate, prepare = stages.evaluate, stages.prepare
    copy_evaluating = threading.Event()

    def prepare_original_last(record, settings):
        if record.hotkey == "orig":  # the copy claims the content first, then the original takes it over
            copy_evaluating.wait(5)
        return prepare(record, settings)

    def evaluate_waiting(prepared, request):
        if prepared.facts["hotkey"] == "copy":
            copy_evaluating.set()
        try:
            meet.wait()
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        return evaluate(prepared, request)

    settings = Settings(cache_dir=tmp_path / "cache")
    executor = LocalExecutor(SlotPool([Slot(0), Slot(1)]))
    sup = Supervisor(
        settings,
        chain,
        Store(tmp_path / "s.sqlite"),
        evaluate=evaluate_waiting,
        prepare=prepare_original_last,
        executor=executor,
    )
    sup.run_round()
    assert met == [False], "the same content was evaluated twice at once"
    assert stages.evaluated == ["copy"]
    weights = weights_by_hotkey(chain)
    assert weights["orig"] > 0 and weights.get("copy", 0.0) == 0.0, "the copy took its original's score"
