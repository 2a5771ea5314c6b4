"""Two CPU slots on the real Docker engine: two sandboxes at once, each confined to its own core."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.sandbox import SandboxConfig, run_sandbox
from harness.sandbox.pool import SlotPool, current_overrides, plan_slots
from tests.support.sandbox_docker import chat, fault_spec

pytestmark = pytest.mark.docker


def test_two_slots_run_two_sandboxes_each_on_its_own_core(docker, fault_model: Path, run_label, leftovers) -> None:
    pool = SlotPool(plan_slots(SandboxConfig(cpu_slots=2), cores=[0, 1]))
    both_up = threading.Barrier(2, timeout=60)
    seen: dict[str, dict] = {}
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with pool.hold() as slot:
                spec = fault_spec("healthy", run_label, **current_overrides())
                with run_sandbox(spec, fault_model, client=docker) as sandbox:
                    both_up.wait()  # only passes when the two sandboxes run at the same time
                    host = docker.containers.get(sandbox.container_id).attrs["HostConfig"]
                    seen[slot.cpuset or ""] = {"cpuset": host["CpusetCpus"], "nano": host["NanoCpus"]}
                    assert chat(sandbox)["choices"]
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert seen == {"0": {"cpuset": "0", "nano": 1_000_000_000}, "1": {"cpuset": "1", "nano": 1_000_000_000}}
