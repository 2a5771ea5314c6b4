"""Which GPUs this host has and whether the configured one can take a model now.

A GPU engine gets exactly one GPU. Before starting it, the GPU's free memory is checked (NVML through pynvml
when installed, else `nvidia-smi`), so a busy or wrong GPU is refused with a reason instead of an engine that
dies minutes later with an opaque CUDA out-of-memory.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from harness.errors import HarnessError


class GpuUnavailable(HarnessError):
    """The configured GPU does not exist or has too little free memory; the message says which."""


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_total_mib: int
    memory_free_mib: int


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """Parse `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.free --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            raise ValueError(f"unexpected nvidia-smi line: {line!r}")
        index, uuid, *name_parts, total, free = parts
        gpus.append(GpuInfo(int(index), uuid, ",".join(name_parts), int(float(total)), int(float(free))))
    return gpus


def _query_nvml() -> list[GpuInfo] | None:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append(
                GpuInfo(
                    index,
                    uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    name.decode() if isinstance(name, bytes) else str(name),
                    memory.total // (1024 * 1024),
                    memory.free // (1024 * 1024),
                )
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _query_nvidia_smi() -> list[GpuInfo] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = "--query-gpu=index,uuid,name,memory.total,memory.free"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(out.stdout)


def query_gpus() -> list[GpuInfo] | None:
    """The host's GPUs, or None when neither NVML nor nvidia-smi is available (nothing can be checked)."""
    gpus = _query_nvml()
    return gpus if gpus is not None else _query_nvidia_smi()


def select_gpu(device: str, gpus: list[GpuInfo], min_free_mib: int) -> GpuInfo:
    """The GPU named by `device` (index or UUID) if it has at least `min_free_mib` free; else a reason."""
    wanted = device.strip()
    match = [g for g in gpus if str(g.index) == wanted or g.uuid == wanted]
    if not match:
        known = ", ".join(f"{g.index} ({g.uuid})" for g in gpus) or "none"
        raise GpuUnavailable(f"GPU {wanted!r} not found; this host has: {known}")
    gpu = match[0]
    if gpu.memory_free_mib < min_free_mib:
        raise GpuUnavailable(
            f"GPU {gpu.index} ({gpu.name}) has {gpu.memory_free_mib} MiB free of {gpu.memory_total_mib}; "
            f"at least {min_free_mib} MiB are required (sandbox.gpu_min_free_mib)"
        )
    return gpu


def check_gpu(device: str, min_free_mib: int) -> GpuInfo | None:
    """Check the configured GPU where NVML/nvidia-smi can tell; None when no GPU tooling exists here."""
    gpus = query_gpus()
    if gpus is None:
        return None
    return select_gpu(device, gpus, min_free_mib)
