"""Engines at scale: a round of K models on 1 and 2 sandbox slots, and the CPU engine with and without
continuous batching.

Round: the real round of bench_round (local chain, state store, loopback Hub mirror, pinned download, real CPU
sandboxes running SmolLM2 variants), once with one slot and once with two (`sandbox.cpu_slots`), every sandbox
limited to one core (cpuset + quota), so the two-slot round has the same per-model compute and only the
parallelism differs. Goal: time(2 slots) / time(1 slot) <= 0.6 on a 2-core machine. The same round again with
the Ray executor on a local cluster of one and of two worker nodes (one slot each, each node pinned to its own
core through its environment), the workers fetching, checking and evaluating.

Throughput: one sandbox (the whole machine) serving SmolLM2, requests/s at concurrency 1 and 8, without and
with `sandbox.cpu.continuous_batching` (KV cache bounded to a quarter of the sandbox's memory limit).
The two settings run one after the other on the same model and payload; compare them within this run.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_round import _settings, _third_model, publish_and_commit, timed_round
from bench.bench_sandbox import _rate
from harness.demo.bundled_models import smollm2_degraded_dir, smollm2_dir
from harness.demo.hub_mirror import MirrorServer
from harness.round.service import build_supervisor
from harness.sandbox import SandboxSpec, run_sandbox
from harness.settings.root import load_settings

K_SEEDS = (424242, 515151)  # two more noised variants beside the good and the degraded model: K = 4
TOOLCALL_N = 2
MAX_TOKENS = 24
THROUGHPUT_REQUESTS = {1: 3, 8: 8}
THROUGHPUT_PAYLOAD = {"messages": [{"role": "user", "content": "Name three colours."}], "max_tokens": 16}


def _round(base: Path, endpoint: str, models: list[tuple[str, Path, str]], slots: int) -> dict[str, Any]:
    data = base / f"slots-{slots}"
    data.mkdir()
    settings = _settings(data, endpoint, prepare_ahead=1).model_copy(deep=True)
    settings.tasks.toolcall_n = TOOLCALL_N
    settings.evaluation.max_tokens = MAX_TOKENS
    settings.sandbox.cpu_slots = slots
    if slots == 1:  # one slot keeps the configured limits: pin it to one core like each of the two below
        settings.sandbox.cpus = 1.0
        settings.sandbox.cpuset_cpus = "0"
    publish_and_commit(settings, models)
    wall, board, failures = timed_round(build_supervisor(settings))
    return {
        "slots": slots,
        "round_wall_s": round(wall, 2),
        "evaluated": len(board),
        "failures": [f"{f['subject']} {f['stage']} {f['class']}" for f in failures],
    }


def _ray_round(base: Path, endpoint: str, models: list[tuple[str, Path, str]], workers: int) -> dict[str, Any]:
    """The same round with `supervisor.executor = ray` on a local cluster of `workers` worker nodes, one slot
    each, each node's sandboxes pinned to a core of their own (the node's environment, as on its own host)."""
    from tests.support.ray_cluster import local_cluster

    data = base / f"ray-{workers}"
    data.mkdir()
    settings = _settings(data, endpoint, prepare_ahead=1).model_copy(deep=True)
    settings.tasks.toolcall_n = TOOLCALL_N
    settings.evaluation.max_tokens = MAX_TOKENS
    publish_and_commit(settings, models)
    with local_cluster() as cluster:
        for core in range(workers):
            cluster.add_worker(slots=1, env={"HARNESS_SANDBOX__CPUSET_CPUS": str(core), "HARNESS_SANDBOX__CPUS": "1"})
        settings.supervisor.executor = "ray"
        settings.supervisor.ray_address = cluster.address
        wall, board, failures = timed_round(build_supervisor(settings))
    return {
        "workers": workers,
        "slots": workers,
        "round_wall_s": round(wall, 2),
        "evaluated": len(board),
        "failures": [f"{f['subject']} {f['stage']} {f['class']}" for f in failures],
    }


def _throughput(model: Path, continuous_batching: bool) -> dict[str, float]:
    config = load_settings().sandbox
    spec = SandboxSpec.from_settings(
        config, engine="cpu", memory_limit="4g", cpu={"continuous_batching": continuous_batching}
    )

    async def measure(sandbox: Any) -> dict[str, float]:
        async with sandbox.client(max_concurrency=8, request_timeout=600) as client:
            await client.chat_completion(THROUGHPUT_PAYLOAD)  # warm-up (continuous batching sizes its cache)
            return {f"concurrency_{c}_rps": round(await _rate(client, c, n), 4) for c, n in THROUGHPUT_REQUESTS.items()}

    with run_sandbox(spec, model) as sandbox:
        return asyncio.run(measure(sandbox))


def run() -> dict[str, Any]:
    load_at_start = round(os.getloadavg()[0], 2)
    cache = Path(load_settings().cache_dir)
    good = smollm2_dir(cache)
    plain = _throughput(good, continuous_batching=False)
    batched = _throughput(good, continuous_batching=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        base = Path(tmp)
        models = [
            ("scale-good", good, "bench/smollm2-135m"),
            ("scale-worse", smollm2_degraded_dir(cache), "bench/smollm2-135m-noised"),
        ] + [
            (f"scale-v{i}", _third_model(base / f"v{i}", cache, seed), f"bench/smollm2-135m-v{i}")
            for i, seed in enumerate(K_SEEDS)
        ]
        (base / "mirror").mkdir()
        with MirrorServer(base / "mirror") as mirror:
            one, two = (_round(base, mirror.url, models, slots) for slots in (1, 2))
            ray_one, ray_two = (_ray_round(base, mirror.url, models, workers) for workers in (1, 2))
    return {
        "round": {
            "models": len(models),
            "tasks_per_model": TOOLCALL_N,
            "max_tokens": MAX_TOKENS,
            "cores_per_sandbox": 1,
            "one_slot": one,
            "two_slots": two,
            "ratio_two_to_one": round(two["round_wall_s"] / one["round_wall_s"], 3),
            "goal": "<= 0.6",
        },
        "ray_round": {
            "models": len(models),
            "tasks_per_model": TOOLCALL_N,
            "max_tokens": MAX_TOKENS,
            "cores_per_sandbox": 1,
            "one_worker": ray_one,
            "two_workers": ray_two,
            "ratio_two_to_one": round(ray_two["round_wall_s"] / ray_one["round_wall_s"], 3),
            "ratio_ray_one_to_local_one": round(ray_one["round_wall_s"] / one["round_wall_s"], 3),
            "goal": "<= 0.6",
        },
        "cpu_engine_throughput": {
            "requests": THROUGHPUT_REQUESTS,
            "max_tokens": THROUGHPUT_PAYLOAD["max_tokens"],
            "one_at_a_time": plain,
            "continuous_batching": batched,
            "speedup_at_8": round(batched["concurrency_8_rps"] / plain["concurrency_8_rps"], 3),
            "speedup_at_1": round(batched["concurrency_1_rps"] / plain["concurrency_1_rps"], 3),
        },
        "load_average_1m": {"start": load_at_start, "end": round(os.getloadavg()[0], 2)},
        "note": "Ratios are within this run; absolute times depend on what else the host was running.",
    }
