"""Sandbox slots on one host: which sandboxes may run at once, and what each one is pinned to.

A GPU host gets one slot per device in `sandbox.gpu_devices` (each sandbox sees exactly that GPU, whose free
memory NVML checks before the engine starts). A CPU host gets `sandbox.cpu_slots` slots, each pinned to its
own share of the cores (cpuset plus a CPU quota of the same size), so N parallel CPU engines do not fight over
every core and one model's evaluation cannot slow another's. A slot is held by one thread at a time; the
sandbox opened on that thread takes the slot's settings (`current_overrides`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.sandbox.config import SandboxConfig


@dataclass(frozen=True)
class Slot:
    """One sandbox at a time: a GPU (`gpu_device`) or a set of cores (`cpuset`, as docker writes it)."""

    index: int
    gpu_device: str | None = None
    cpuset: str | None = None
    cores: int | None = None

    def overrides(self) -> dict[str, Any]:
        """SandboxConfig fields for a sandbox started in this slot."""
        if self.gpu_device is not None:
            return {"gpu_device": self.gpu_device}
        if self.cpuset is not None:
            return {"cpuset_cpus": self.cpuset, "cpus": float(self.cores or 1)}
        return {}


def host_cores() -> list[int]:
    """The cores this process may use (its affinity, which a container or taskset narrows)."""
    return sorted(os.sched_getaffinity(0))


def split_cores(cores: list[int], parts: int) -> list[list[int]]:
    """`cores` cut into `parts` contiguous groups of near-equal size (the first groups get the remainder)."""
    if parts > len(cores):
        raise ValueError(f"{parts} CPU slots need at least {parts} cores; this host has {len(cores)}")
    size, extra = divmod(len(cores), parts)
    groups, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        groups.append(cores[start:end])
        start = end
    return groups


def plan_slots(config: SandboxConfig, *, engine: str | None = None, cores: list[int] | None = None) -> list[Slot]:
    """The host's slots for `engine` (default: the configured one)."""
    if (engine or config.engine) == "sglang":
        devices = config.pool_gpu_devices()
        if not devices:
            raise ValueError("engine sglang needs GPUs: set sandbox.gpu_devices (indexes or UUIDs)")
        return [Slot(index, gpu_device=device) for index, device in enumerate(devices)]
    if config.cpu_slots == 1:
        return [Slot(0)]  # one sandbox: the configured limits alone, as before pools existed
    groups = split_cores(cores if cores is not None else host_cores(), config.cpu_slots)
    return [
        Slot(index, cpuset=",".join(str(core) for core in group), cores=len(group))
        for index, group in enumerate(groups)
    ]


_bound = threading.local()


def current_overrides() -> dict[str, Any]:
    """The settings of the slot this thread holds ({} outside a pool)."""
    slot: Slot | None = getattr(_bound, "slot", None)
    return slot.overrides() if slot is not None else {}


@contextlib.contextmanager
def bind_slot(slot: Slot) -> Iterator[Slot]:
    """`slot` bound to this thread until the block ends: a sandbox opened inside takes its pinning."""
    previous = getattr(_bound, "slot", None)
    _bound.slot = slot
    try:
        yield slot
    finally:
        _bound.slot = previous


class SlotPool:
    """Hands out each slot to one holder at a time; a holder waits for a free slot."""

    def __init__(self, slots: list[Slot]) -> None:
        if not slots:
            raise ValueError("a pool needs at least one slot")
        self.slots = list(slots)
        self._free: queue.Queue[Slot] = queue.Queue()
        for slot in self.slots:
            self._free.put(slot)

    def __len__(self) -> int:
        return len(self.slots)

    @contextlib.contextmanager
    def hold(self) -> Iterator[Slot]:
        """A free slot, bound to this thread until the block ends (the sandbox opened inside takes it)."""
        slot = self._free.get()
        try:
            with bind_slot(slot):
                yield slot
        finally:
            self._free.put(slot)
