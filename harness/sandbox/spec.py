"""What a sandbox is, as data: the spec from settings, the engine command, and the docker `run` arguments.

Everything here is a pure function of settings, so the security-relevant arguments (and the sglang launch
line, which cannot run on a machine without a GPU) are unit-tested without Docker.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from harness.sandbox.config import SandboxConfig
from harness.sandbox.sglang_facts import DETERMINISTIC_FLAG

# Labels on every container we start; the reaper finds leftovers by them.
LABEL = "io.harness.sandbox"
LABEL_PID = "io.harness.owner-pid"
LABEL_HOST = "io.harness.owner-host"
LABEL_SOCKET_DIR = "io.harness.socket-dir"
LABEL_ENGINE = "io.harness.engine"
LABEL_ROLE = "io.harness.role"

MODEL_MOUNT = "/model"
SOCKET_MOUNT = "/run/harness"
SOCKET_NAME = "engine.sock"
SANDBOX_HOME = "/home/sandbox"
GPU_ENGINES = frozenset({"sglang"})
DEFAULT_SANDBOX_ID = 10001
SGLANG_WRAPPER = "/opt/engine/serve_sglang.py"


@dataclass(frozen=True)
class SandboxSpec:
    """One sandbox to start: the settings section plus per-run choices (engine, competition, command)."""

    config: SandboxConfig
    engine: str
    competition: str | None = None
    # Replaces the engine command (the relay entrypoint stays): used by tests and probes, never by evaluation.
    command: tuple[str, ...] | None = None
    extra_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        config: SandboxConfig,
        *,
        engine: str | None = None,
        competition: str | None = None,
        command: list[str] | tuple[str, ...] | None = None,
        **overrides: Any,
    ) -> SandboxSpec:
        """`overrides` are SandboxConfig fields for this run only (validated like settings)."""
        if overrides:
            config = SandboxConfig.model_validate({**config.model_dump(), **overrides})
        chosen = engine or config.engine
        if chosen not in ("cpu", "sglang"):
            raise ValueError(f"unknown engine {chosen!r}: expected cpu or sglang")
        return cls(config, chosen, competition, tuple(command) if command is not None else None)

    @property
    def image(self) -> str:
        return self.config.sglang_image if self.engine == "sglang" else self.config.cpu_image

    @property
    def needs_gpu(self) -> bool:
        return self.engine in GPU_ENGINES

    @property
    def uid_gid(self) -> tuple[int, int]:
        return resolve_user(self.config.user)


def resolve_user(user: str | None, *, euid: int | None = None, egid: int | None = None) -> tuple[int, int]:
    """The container's uid:gid. Default: the harness's own ids (it owns the model files and the socket dir),
    or 10001:10001 when the harness runs as root, because the sandbox never runs as root."""
    if user:
        uid, _, gid = user.partition(":")
        return int(uid), int(gid or uid)
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    if euid == 0 or egid == 0:
        return DEFAULT_SANDBOX_ID, DEFAULT_SANDBOX_ID
    return euid, egid


def engine_command(spec: SandboxSpec) -> list[str]:
    """The engine's command line inside the container (listening on 127.0.0.1 only, remote code off)."""
    if spec.command is not None:
        return list(spec.command)
    cfg = spec.config
    port = str(cfg.engine_port)
    if spec.engine == "cpu":
        args = [
            "python",
            "/opt/engine/serve_cpu.py",
            MODEL_MOUNT,
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--device",
            "cpu",
            "--no-trust-remote-code",
            "--dtype",
            cfg.cpu.dtype,
            "--default-seed",
            str(cfg.seed),
            "--log-level",
            cfg.cpu.log_level,
            "--render-timeout-s",
            f"{cfg.render_timeout_s:g}",
        ]
        if cfg.cpu.continuous_batching:
            kv_bytes = int(memory_bytes(cfg.memory_limit) * cfg.cpu.kv_cache_fraction)
            return [*args, "--continuous-batching", "--kv-cache-bytes", str(kv_bytes)]
        return args
    sg = cfg.sglang
    args = [
        "python3",
        SGLANG_WRAPPER,  # sglang's own launcher, chat-template renders bounded (sandbox_images/sglang)
        "--render-timeout-s",
        f"{cfg.render_timeout_s:g}",
        "--model-path",
        MODEL_MOUNT,
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--mem-fraction-static",
        str(sg.mem_fraction_static),
        "--random-seed",
        str(cfg.seed),
        "--dtype",
        sg.dtype,
        "--log-level",
        sg.log_level,
    ]
    if sg.context_length is not None:
        args += ["--context-length", str(sg.context_length)]
    parser = sg.tool_call_parsers.get(spec.competition or "")
    if parser:
        args += ["--tool-call-parser", parser]
    if sg.deterministic_inference:
        args.append(DETERMINISTIC_FLAG)
    return args


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def memory_bytes(limit: str | int) -> int:
    """Bytes of a docker memory limit ("8g", "512m", "1073741824"), as docker reads it (binary units)."""
    text = str(limit).strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _MEMORY_UNITS else (text, "")
    if not number.isdigit():
        raise ValueError(f"not a memory size: {limit!r} (expected e.g. 8g, 512m or bytes)")
    return int(number) * _MEMORY_UNITS[unit]


def gpu_device_request(device_id: str) -> DeviceRequest:
    """Exactly one GPU, named by index or UUID; never `count=-1` ("all")."""
    if not device_id or device_id.strip().lower() == "all" or "," in device_id:
        raise ValueError(f"gpu_device must name exactly one GPU (index or UUID), got {device_id!r}")
    return DeviceRequest(device_ids=[device_id.strip()], capabilities=[["gpu"]])


def sandbox_cpus(cfg: SandboxConfig) -> float:
    """`sandbox.cpus`, or the number of cores this process may run on (its affinity, not the machine's)."""
    if cfg.cpus is not None:
        return cfg.cpus
    try:
        return float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return float(os.cpu_count() or 1)


def labels_for(spec: SandboxSpec, socket_dir: Path, role: str = "engine") -> dict[str, str]:
    return {
        LABEL: "1",
        LABEL_PID: str(os.getpid()),
        LABEL_HOST: socket.gethostname(),
        LABEL_SOCKET_DIR: str(socket_dir),
        LABEL_ENGINE: spec.engine,
        LABEL_ROLE: role,
        **spec.extra_labels,
    }


def container_kwargs(
    spec: SandboxSpec, model_dir: Path, socket_dir: Path, *, name: str, role: str = "engine"
) -> dict[str, Any]:
    """Arguments for `client.containers.run(**kwargs)`: the whole hardening in one place."""
    cfg = spec.config
    uid, gid = spec.uid_gid
    tmpfs_opts = f"rw,nosuid,nodev,size={cfg.tmpfs_size}"
    environment = {
        "HOME": SANDBOX_HOME,
        "ENGINE_PORT": str(cfg.engine_port),
        "ENGINE_SOCKET": f"{SOCKET_MOUNT}/{SOCKET_NAME}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "XDG_CACHE_HOME": f"{SANDBOX_HOME}/.cache",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    cpus = sandbox_cpus(cfg)
    environment["OMP_NUM_THREADS"] = str(max(1, math.floor(cpus)))
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "command": engine_command(spec),
        "name": name,
        "detach": True,
        "labels": labels_for(spec, socket_dir, role),
        "environment": environment,
        "user": f"{uid}:{gid}",
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {
            "/tmp": f"{tmpfs_opts},mode=1777",
            SANDBOX_HOME: f"{tmpfs_opts},mode=0700,uid={uid},gid={gid}",
        },
        "mounts": [
            Mount(target=MODEL_MOUNT, source=str(model_dir), type="bind", read_only=True),
            Mount(target=SOCKET_MOUNT, source=str(socket_dir), type="bind", read_only=False),
        ],
        "pids_limit": cfg.pids_limit,
        "mem_limit": cfg.memory_limit,
        "memswap_limit": cfg.memory_limit,
        "shm_size": cfg.shm_size,
        "init": True,
        "ipc_mode": "private",
        "ulimits": [Ulimit(name="nofile", soft=cfg.nofile, hard=cfg.nofile), Ulimit(name="core", soft=0, hard=0)],
        # A model that floods stdout must not fill the host disk.
        "log_config": LogConfig(type=LogConfig.types.JSON, config={"max-size": "10m", "max-file": "2"}),
    }
    kwargs["nano_cpus"] = int(cpus * 1e9)  # never 0 (= unlimited)
    if cfg.cpuset_cpus is not None:
        kwargs["cpuset_cpus"] = cfg.cpuset_cpus
    if cfg.runtime:
        kwargs["runtime"] = cfg.runtime
    if spec.needs_gpu:
        if cfg.gpu_device is None:
            raise ValueError(f"engine {spec.engine} needs a GPU: set sandbox.gpu_device (an index or a UUID)")
        kwargs["device_requests"] = [gpu_device_request(cfg.gpu_device)]
    return kwargs
