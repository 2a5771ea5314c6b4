"""What a Ray worker host decides for itself: where its sandboxes run.

The head sends one `Settings` to every worker, so the tasks, scoring and engine options are the same everywhere
(validators and workers must agree). Placement cannot be the same everywhere: each host has its own GPUs and
cores. So a worker keeps the head's settings except the placement fields, which it takes from its own
environment (`HARNESS_SANDBOX__GPU_DEVICES`, `..._CPU_SLOTS`, `..._CPUSET_CPUS`, ... set where `ray start` runs),
and it holds one of its host's slots for the whole evaluation.

Ray's `sandbox_slot` resource bounds how many evaluations a node runs at once, but says nothing of *which* GPU
or cores each one may use, and Ray tasks are separate processes. A slot is therefore claimed with an exclusive
file lock under the host's cache directory, named after what it pins (a GPU, a cpuset), so two tasks never
share a GPU or cores, even from two worker nodes on one host; the lock dies with the process that held it. A
CPU slot with no cpuset pins nothing (its CPU quota shares the cores) and takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import StageFailure
from harness.sandbox.config import SandboxConfig
from harness.sandbox.pool import Slot, bind_slot, plan_slots
from harness.settings.root import OverrideError, Settings, load_settings, set_by_environment

PLACEMENT_FIELDS = ("gpu_device", "gpu_devices", "cpu_slots", "cpuset_cpus", "cpus", "gpu_min_free_mib")
POLL_S = 0.2


def host_settings(settings: Settings) -> Settings:
    """`settings` with the placement fields this host's environment sets (parsed by the settings loader, so a
    bad value is the same one-line error as at the head); everything else stays the head's."""
    chosen = set_by_environment("sandbox", PLACEMENT_FIELDS)
    if not chosen:
        return settings
    try:
        local = load_settings().sandbox
    except OverrideError as exc:
        raise StageFailure("executor", "worker-config", f"this worker's environment: {exc}") from None
    sandbox = SandboxConfig.model_validate({**settings.sandbox.model_dump(), **{f: getattr(local, f) for f in chosen}})
    return settings.model_copy(update={"sandbox": sandbox})


def exclusive_pin(config: SandboxConfig, slot: Slot) -> str | None:
    """What a sandbox in `slot` holds alone (a GPU, a cpuset), or None (a CPU quota shares the host's cores)."""
    overrides = slot.overrides()
    if config.engine == "sglang":
        return f"gpu:{overrides.get('gpu_device', config.gpu_device)}"
    cpuset = overrides.get("cpuset_cpus", config.cpuset_cpus)
    return f"cpuset:{cpuset}" if cpuset else None


def placement_of(config: SandboxConfig, slot: Slot) -> dict[str, object]:
    """Where a sandbox in `slot` runs, as recorded with the evaluation: its GPU, or its cpuset and CPU quota."""
    effective = {**config.model_dump(include={"gpu_device", "cpuset_cpus", "cpus"}), **slot.overrides()}
    if config.engine == "sglang":
        return {"gpu_device": effective["gpu_device"]}
    return {k: effective[k] for k in ("cpuset_cpus", "cpus") if effective[k] is not None}


def lock_name(pin: str) -> str:
    return f"slot-{hashlib.sha256(pin.encode()).hexdigest()[:16]}.lock"


@contextlib.contextmanager
def hold_host_slot(config: SandboxConfig, lock_dir: Path, *, deadline_s: float = 3600.0) -> Iterator[Slot]:
    """The first free slot of this host (waiting for one), bound to this thread so the sandbox takes its pinning."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    try:
        slots = plan_slots(config)
    except ValueError as exc:  # this host's placement settings, not the model: say so
        raise StageFailure("executor", "worker-config", f"this worker's sandbox placement: {exc}") from None
    give_up = time.monotonic() + deadline_s
    while True:
        for slot in slots:
            pin = exclusive_pin(config, slot)
            if pin is None:  # nothing to share: no lock, as on a one-slot host
                with bind_slot(slot):
                    yield slot
                return
            handle = (lock_dir / lock_name(pin)).open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                with bind_slot(slot):
                    yield slot
                return
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
        if time.monotonic() > give_up:
            waited = f"no free sandbox slot on this host after {deadline_s:.0f} s ({len(slots)} slots)"
            raise StageFailure("executor", "no-slot", waited)
        time.sleep(POLL_S)
