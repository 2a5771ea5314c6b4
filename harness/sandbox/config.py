"""The `sandbox` settings section: images, engine choice, resource limits, timeouts, engine launch options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from harness.sandbox.sglang_facts import SGLANG_BASE_IMAGE, SGLANG_TOOL_CALL_PARSERS, SGLANG_VERSION


class SglangConfig(BaseModel):
    """Launch options of the sglang engine; `--trust-remote-code` is deliberately not among them."""

    mem_fraction_static: float = Field(default=0.8, gt=0, le=0.95, description="--mem-fraction-static")
    context_length: int | None = Field(default=8192, ge=256, description="--context-length; None = model's own")
    tool_call_parsers: dict[str, str] = Field(
        default_factory=lambda: {"toolcall": "hermes", "any2any": "hermes"},
        description="Competition (names as in `competitions`) -> --tool-call-parser (hermes, pythonic, llama3, "
        "qwen, ...); a competition not listed gets calls as text.",
    )
    dtype: str = Field(default="auto", description="--dtype")
    log_level: str = Field(default="warning", description="--log-level")
    deterministic_inference: bool = Field(
        default=True,
        description="--enable-deterministic-inference: outputs independent of batch composition, so validators "
        "agree; costs throughput (batch-invariant kernels, PyTorch sampling; docs/scale.md).",
    )

    @field_validator("tool_call_parsers")
    @classmethod
    def _parser_names(cls, value: dict[str, str]) -> dict[str, str]:
        """A typo here would make every model of the competition crash at launch and be recorded as the
        miner's failure; it is the validator's, so it is refused when the settings load."""
        for competition, parser in value.items():
            if parser not in SGLANG_TOOL_CALL_PARSERS:
                raise ValueError(
                    f"tool call parser {parser!r} for {competition!r} is not one of sglang {SGLANG_VERSION}'s: "
                    f"{', '.join(sorted(SGLANG_TOOL_CALL_PARSERS))}"
                )
        return value


class CpuEngineConfig(BaseModel):
    """Launch options of the CPU engine (`transformers serve`)."""

    dtype: str = Field(default="auto", description="--dtype (auto = the weights' dtype)")
    log_level: str = Field(default="warning", description="--log-level")
    max_concurrency: int = Field(
        default=1,
        ge=1,
        description="Concurrent requests to the CPU engine (caps sandbox.max_concurrency): without continuous "
        "batching, parallel requests fight over the cores (8 was 3x slower than 1 in bench_sandbox).",
    )
    continuous_batching: bool = Field(
        default=False,
        description="`transformers serve --continuous-batching`: several times the throughput at concurrency 8 "
        "(bench_scale), but an answer depends on which requests share its batch, so validators may disagree; "
        "off by default. When on, sandbox.max_concurrency applies instead of cpu.max_concurrency.",
    )
    kv_cache_fraction: float = Field(
        default=0.25,
        gt=0,
        le=0.8,
        description="With continuous batching: the KV cache's bound as a fraction of sandbox.memory_limit (its "
        "own default sizes the cache from the host's RAM and can exhaust the sandbox).",
    )


class SandboxConfig(BaseModel):
    """How untrusted models are run: one hardened container per model, reachable only through a Unix socket."""

    engine: Literal["cpu", "sglang"] = Field(default="cpu", description="cpu (transformers) or sglang (GPU).")
    base_image: str = Field(
        default="harness-base:bookworm-py311",
        description="Base of the engine images: the debootstrap tag, or e.g. python:3.11-slim-bookworm.",
    )
    cpu_image: str = Field(default="harness-engine-cpu:latest", description="Image of the CPU engine.")
    sglang_image: str = Field(default="harness-engine-sglang:latest", description="Image of the sglang engine.")
    sglang_base_image: str = Field(default=SGLANG_BASE_IMAGE, description="Official sglang image to build FROM.")
    user: str | None = Field(
        default=None,
        description="uid:gid inside the container; never root. None = the harness's own uid:gid, or 10001:10001 "
        "when the harness runs as root.",
    )
    memory_limit: str = Field(default="8g", description="Memory limit (swap is set equal: no swap).")
    shm_size: str = Field(default="1g", description="/dev/shm size.")
    pids_limit: int = Field(default=512, ge=16, description="Max processes/threads in the container.")
    cpus: float | None = Field(
        default=None, gt=0, description="CPU limit (docker --cpus); None = the cores this process may run on."
    )
    nofile: int = Field(default=4096, ge=64, description="Open-file limit (ulimit -n) inside the sandbox.")
    socket_dir_size: str = Field(
        default="256k",
        description="tmpfs size mounted on the socket dir when the harness runs as root ('0': plain directory).",
    )
    tmpfs_size: str = Field(default="1g", description="Size of each writable tmpfs (/tmp, HOME).")
    runtime: str | None = Field(default=None, description="OCI runtime, e.g. runsc (gVisor); None = default.")
    gpu_device: str | None = Field(
        default=None, description="GPU for GPU engines: an index ('0') or a UUID ('GPU-...'); exactly one."
    )
    gpu_devices: list[str] = Field(
        default_factory=list,
        description="GPU pool: one sandbox pinned to each device (index or UUID), models evaluated in parallel; "
        "empty = [gpu_device] when that is set.",
    )
    cpu_slots: int = Field(
        default=1,
        ge=1,
        le=64,
        description="CPU engine: sandboxes run in parallel, each pinned to its own share of the cores.",
    )
    cpuset_cpus: str | None = Field(
        default=None, description="Cores a sandbox may run on (docker --cpuset-cpus, e.g. '0-3'); set per slot."
    )
    gpu_min_free_mib: int = Field(default=2048, ge=0, description="Refuse a GPU with less free memory than this.")
    startup_timeout: float = Field(default=600.0, gt=0, description="Seconds from start to healthy.")
    render_timeout_s: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="Deadline of one chat-template render inside the engine (a killable worker): a render past it "
        "is cancelled and the task fails as template-timeout. Keep it well under evaluation.request_timeout_s.",
    )
    max_concurrency: int = Field(default=8, ge=1, description="Concurrent requests per engine.")
    max_response_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Cap on one response's size.")
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        description="Cap on one request's size (JSON, images as base64 data URLs): must hold tasks.max_image_bytes.",
    )
    socket_root: Path | None = Field(
        default=None, description="Parent of the per-sandbox socket dirs; None = $TMPDIR/harness-sandbox-UID."
    )
    engine_port: int = Field(default=8000, ge=1024, le=65535, description="Engine port on 127.0.0.1 inside.")
    seed: int = Field(default=0, description="Engine seed (reproducible sampling).")
    sglang: SglangConfig = Field(default_factory=SglangConfig)
    cpu: CpuEngineConfig = Field(default_factory=CpuEngineConfig)

    @field_validator("gpu_devices")
    @classmethod
    def _distinct_devices(cls, value: list[str]) -> list[str]:
        cleaned = [device.strip() for device in value]
        for device in cleaned:
            if not device or device.lower() == "all" or "," in device:
                raise ValueError(f"each of sandbox.gpu_devices names exactly one GPU, got {device!r}")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"sandbox.gpu_devices lists a GPU twice: {cleaned}")
        return cleaned

    def pool_gpu_devices(self) -> list[str]:
        """The GPU pool: `gpu_devices`, or the single `gpu_device` of older settings."""
        return list(self.gpu_devices) or ([self.gpu_device] if self.gpu_device else [])

    @field_validator("user")
    @classmethod
    def _not_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        uid, _, gid = value.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise ValueError("sandbox.user must be numeric uid[:gid]")
        if uid == "0" or gid == "0":
            raise ValueError("the sandbox never runs as root (uid or gid 0)")
        return value
