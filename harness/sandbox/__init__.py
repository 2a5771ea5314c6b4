"""Hardened sandbox for untrusted models: `from harness.sandbox import SandboxSpec, run_sandbox, ...`.

Modules: `config` (settings section), `spec` (pure: docker arguments, engine command), `gpu` (one-GPU
selection), `runtime` (start/health/remove, orphan reaper), `images` (build), `probes` (isolation checks).
"""

from harness.sandbox.config import CpuEngineConfig, SandboxConfig, SglangConfig
from harness.sandbox.engine import EngineClient, EngineError
from harness.sandbox.gpu import GpuInfo, GpuUnavailable, check_gpu, query_gpus, select_gpu
from harness.sandbox.runtime import (
    DockerUnavailable,
    Sandbox,
    SandboxError,
    docker_client,
    prepare_model_dir,
    reap_orphans,
    run_sandbox,
)
from harness.sandbox.spec import SandboxSpec, container_kwargs, engine_command, gpu_device_request

__all__ = [
    "CpuEngineConfig",
    "DockerUnavailable",
    "EngineClient",
    "EngineError",
    "GpuInfo",
    "GpuUnavailable",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxSpec",
    "SglangConfig",
    "check_gpu",
    "container_kwargs",
    "docker_client",
    "engine_command",
    "gpu_device_request",
    "prepare_model_dir",
    "query_gpus",
    "reap_orphans",
    "run_sandbox",
    "select_gpu",
]
