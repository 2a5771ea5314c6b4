"""Engines at scale: a round of K models on 1 and 2 sandbox slots (locally and on Ray), and the CPU engine with
and without continuous batching. Every arm is warmed up before it is timed and repeated, the arms interleaved
(A B C D, A B C D, ...) so that load from other processes on a shared machine hits every arm alike; each arm
reports min / median / max and every ratio is given per repetition too, so its spread is visible.

Round arms: the real round of bench_round (local chain, state store, loopback Hub mirror, pinned download, real
CPU sandboxes running SmolLM2 variants), with one slot and with two (`sandbox.cpu_slots`), every sandbox limited
to one core (cpuset + quota), so the two-slot round has the same per-model compute and only the parallelism
differs; and the same round with the Ray executor on a local cluster of one and of two worker nodes (one slot
each, each node pinned to its own core). Goal: time(2) / time(1) <= 0.6 on a 2-core machine. The task mix is
the demo's (`simple` and `irrelevance` tool calls), where SmolLM2 earns a score: a round whose models all score
0 falls back to burn weights and measures little. An untimed round first warms the image, page cache and
mirror. What a round arm times: `run_round()` from its start to weights set: policy checks, the download from
the mirror into a fresh models folder, each engine's start, the tasks, aggregation and weights.

Throughput: both engines (the whole machine each, the same model) are started together, each sent `WARMUP`
requests untimed (on a busy host a fresh engine's first requests are slower than later ones), then timed
window by window in turn: requests/s at concurrency 1 and 8. What a
throughput arm times: `PAYLOAD` requests from the first sent to the last answered, the engine already healthy
and warm. Why the earlier version read 113x where an idle run read 1.19x: it ran the two engines one after the
other (start, one warm-up request, time, stop; then the other), so each arm saw whatever load the shared host
had during its own minutes, and on this 2-core host that swings the rate by two orders of magnitude: a single
16-token request took 0.6 s at load average 2.5 and 27-124 s (one at a time) or 6-46 s (batching) at load 6-9
with four other engines running, latency falling over the first requests. Its 0.068 requests/s at
concurrency 1 is such a busy window, not a property of the engine. It also timed bench_sandbox's 8-token payload
while recording 16 tokens. Both engines are now up together, warmed, and measured window by window in turn, the
latency of every request kept, the load average recorded.

`BENCH_SCALE_ARMS` (comma list of `throughput`, `local`, `ray`; default all) and `BENCH_SCALE_REPEATS` (default
3) trim a run on a machine that cannot afford all of it; the result says which arms ran.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.bench_round import _settings, _third_model, publish_and_commit, timed_round
from harness.demo.bundled_models import smollm2_degraded_dir, smollm2_dir
from harness.demo.hub_mirror import MirrorServer
from harness.round.service import build_supervisor
from harness.sandbox import SandboxSpec, run_sandbox
from harness.settings.root import Settings, load_settings

K_SEEDS = (424242, 515151)  # two more noised variants beside the good and the degraded model: K = 4
TOOLCALL_N = 4
MAX_TOKENS = 32
TASK_MIX = {"simple": 1.0, "irrelevance": 3.0}  # the demo's mix: SmolLM2 answers these
WARMUP = 4
THROUGHPUT_REQUESTS = {1: 3, 8: 8}
PAYLOAD = {"messages": [{"role": "user", "content": "Name three colours."}], "max_tokens": 16, "temperature": 0}
ARMS = ("throughput", "local", "ray")


def spread(values: list[float]) -> dict[str, Any]:
    """min / median / max of one arm's repetitions, and the values themselves in run order."""
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
        "runs": [round(v, 4) for v in values],
    }


def ratio_spread(numerators: list[float], denominators: list[float]) -> dict[str, Any]:
    """The ratio of two arms per repetition (each pair measured back to back) and of their medians."""
    per_run = [n / d for n, d in zip(numerators, denominators, strict=True)]
    return {
        "of_medians": round(statistics.median(numerators) / statistics.median(denominators), 3),
        **{k: v for k, v in spread(per_run).items() if k != "runs"},
        "per_run": [round(r, 3) for r in per_run],
    }


def _round_settings(data: Path, endpoint: str) -> Settings:
    settings = _settings(data, endpoint, prepare_ahead=1).model_copy(deep=True)
    settings.tasks.toolcall_n = TOOLCALL_N
    settings.tasks.bfcl_fraction = 0.0
    settings.tasks.toolcall_categories = dict(TASK_MIX)
    settings.evaluation.max_tokens = MAX_TOKENS
    settings.supervisor.default_competition = "toolcall"
    return settings


def _outcome(wall: float, board: list[dict[str, Any]], failures: list[dict[str, Any]]) -> dict[str, Any]:
    """What one timed round did: its wall time, what it evaluated, the scores and whether weights were scores."""
    classes = [f"{f['subject']} {f['stage']} {f['class']}" for f in failures]
    return {
        "round_wall_s": round(wall, 2),
        "evaluated": len(board),
        "scores": {row["hotkey"]: round(float(row["score"]), 3) for row in board},
        "weights_from_scores": not any("fallback" in c for c in classes),
        "failures": classes,
    }


def _local_round(data: Path, endpoint: str, models: list[tuple[str, Path, str]], slots: int) -> dict[str, Any]:
    data.mkdir(parents=True)
    settings = _round_settings(data, endpoint)
    settings.sandbox.cpu_slots = slots
    if slots == 1:  # one slot keeps the configured limits: pin it to one core like each of the two below
        settings.sandbox.cpus = 1.0
        settings.sandbox.cpuset_cpus = "0"
    publish_and_commit(settings, models)
    return _outcome(*timed_round(build_supervisor(settings)))


def _ray_round(data: Path, endpoint: str, models: list[tuple[str, Path, str]], workers: int) -> dict[str, Any]:
    """The same round with `supervisor.executor = ray` on a local cluster of `workers` worker nodes, one slot
    each, each node's sandboxes pinned to a core of their own (the node's environment, as on its own host)."""
    from tests.support.ray_cluster import local_cluster

    data.mkdir(parents=True)
    settings = _round_settings(data, endpoint)
    publish_and_commit(settings, models)
    with local_cluster() as cluster:
        for core in range(workers):
            cluster.add_worker(slots=1, env={"HARNESS_SANDBOX__CPUSET_CPUS": str(core), "HARNESS_SANDBOX__CPUS": "1"})
        settings.supervisor.executor = "ray"
        settings.supervisor.ray_address = cluster.address
        return _outcome(*timed_round(build_supervisor(settings)))


async def _rate(client: Any, concurrency: int, total: int) -> tuple[float, list[float]]:
    """`total` requests from `concurrency` workers: requests/s over the whole window, and each one's latency."""
    remaining = [total]
    latencies: list[float] = []

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            sent = time.perf_counter()
            await client.chat_completion(PAYLOAD)
            latencies.append(round(time.perf_counter() - sent, 3))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started), latencies


def _throughput(model: Path, repeats: int) -> dict[str, Any]:
    """Both engines up and warm, then timed alternately, `repeats` times at each concurrency."""
    config = load_settings().sandbox
    specs = {
        name: SandboxSpec.from_settings(config, engine="cpu", memory_limit="4g", cpu={"continuous_batching": on})
        for name, on in (("one_at_a_time", False), ("continuous_batching", True))
    }
    with ExitStack() as stack:
        sandboxes = {name: stack.enter_context(run_sandbox(spec, model)) for name, spec in specs.items()}

        async def measure() -> dict[str, Any]:
            async with _clients(sandboxes) as clients:
                warmup = {}
                for name, client in clients.items():
                    warmup[name] = (await _rate(client, 1, WARMUP))[1]
                rates: dict[str, dict[int, list[float]]] = {
                    name: {c: [] for c in THROUGHPUT_REQUESTS} for name in clients
                }
                latencies: dict[str, dict[int, list[list[float]]]] = {
                    name: {c: [] for c in THROUGHPUT_REQUESTS} for name in clients
                }
                for _ in range(repeats):
                    for concurrency, total in THROUGHPUT_REQUESTS.items():
                        for name, client in clients.items():
                            rate, seen = await _rate(client, concurrency, total)
                            rates[name][concurrency].append(rate)
                            latencies[name][concurrency].append(seen)
                return {"warmup_latencies_s": warmup, "rates": rates, "latencies": latencies}

        measured = asyncio.run(measure())
    rates = measured["rates"]
    out: dict[str, Any] = {
        "timed": f"{THROUGHPUT_REQUESTS} requests per window (concurrency: count), engine healthy and warmed by "
        f"{WARMUP} requests, the two engines alternating window by window, {repeats} repetitions",
        "payload_max_tokens": PAYLOAD["max_tokens"],
        "warmup_latencies_s": measured["warmup_latencies_s"],
    }
    for name in specs:
        out[name] = {f"concurrency_{c}_rps": spread(rates[name][c]) for c in THROUGHPUT_REQUESTS} | {
            "latencies_s": {str(c): measured["latencies"][name][c] for c in THROUGHPUT_REQUESTS}
        }
    for c in THROUGHPUT_REQUESTS:
        out[f"speedup_at_{c}"] = ratio_spread(rates["continuous_batching"][c], rates["one_at_a_time"][c])
    return out


class _clients:
    """Async clients of several sandboxes, opened and closed together."""

    def __init__(self, sandboxes: dict[str, Any]) -> None:
        self.sandboxes = sandboxes
        self.opened: list[Any] = []

    async def __aenter__(self) -> dict[str, Any]:
        clients = {}
        for name, sandbox in self.sandboxes.items():
            context = sandbox.client(max_concurrency=8, request_timeout=600)
            clients[name] = await context.__aenter__()
            self.opened.append(context)
        return clients

    async def __aexit__(self, *exc: object) -> None:
        for context in reversed(self.opened):
            await context.__aexit__(*exc)


def _rounds(models: list[tuple[str, Path, str]], base: Path, endpoint: str, arms: list[str], repeats: int) -> dict:
    """Every round arm once untimed (warm-up), then `repeats` interleaved repetitions of each."""
    plan: dict[str, Callable[[Path], dict[str, Any]]] = {}
    if "local" in arms:
        plan["local_1_slot"] = lambda d: _local_round(d, endpoint, models, 1)
        plan["local_2_slots"] = lambda d: _local_round(d, endpoint, models, 2)
    if "ray" in arms:
        plan["ray_1_worker"] = lambda d: _ray_round(d, endpoint, models, 1)
        plan["ray_2_workers"] = lambda d: _ray_round(d, endpoint, models, 2)
    if not plan:
        return {}
    warm = next(iter(plan.values()))(base / "warmup")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    for index in range(repeats):
        for name, arm in plan.items():
            results[name].append(arm(base / f"{name}-{index}"))
    out: dict[str, Any] = {"warmup_round_wall_s": warm["round_wall_s"]}
    for name, runs in results.items():
        out[name] = {"round_wall_s": spread([r["round_wall_s"] for r in runs]), "runs": runs}
    walls = {name: [r["round_wall_s"] for r in runs] for name, runs in results.items()}
    if "local" in arms:
        out["ratio_local_2_to_1"] = ratio_spread(walls["local_2_slots"], walls["local_1_slot"]) | {"goal": "<= 0.6"}
    if "ray" in arms:
        out["ratio_ray_2_to_1"] = ratio_spread(walls["ray_2_workers"], walls["ray_1_worker"]) | {"goal": "<= 0.6"}
    if "local" in arms and "ray" in arms:
        out["ratio_ray_1_to_local_1"] = ratio_spread(walls["ray_1_worker"], walls["local_1_slot"])
    return out


def run() -> dict[str, Any]:
    arms = [a.strip() for a in os.environ.get("BENCH_SCALE_ARMS", ",".join(ARMS)).split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"BENCH_SCALE_ARMS: unknown arms {unknown}; known: {list(ARMS)}")
    repeats = int(os.environ.get("BENCH_SCALE_REPEATS", "3"))
    if repeats < 1:
        raise ValueError("BENCH_SCALE_REPEATS must be at least 1")
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    cache = Path(load_settings().cache_dir)
    good = smollm2_dir(cache)
    out: dict[str, Any] = {"arms": arms, "repeats": repeats}
    if "throughput" in arms:
        out["cpu_engine_throughput"] = _throughput(good, repeats)
    if "local" in arms or "ray" in arms:
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
                out["rounds"] = {
                    "models": len(models),
                    "tasks_per_model": TOOLCALL_N,
                    "task_mix": TASK_MIX,
                    "max_tokens": MAX_TOKENS,
                    "cores_per_sandbox": 1,
                    "timed": "run_round() to weights set: policy, download from the loopback mirror into a fresh "
                    "models folder, engine starts, tasks, weights; after one untimed warm-up round",
                    **_rounds(models, base, mirror.url, arms, repeats),
                }
    out["load_average_1_5_15m"] = {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]}
    out["cpus"] = os.cpu_count()
    out["note"] = (
        "Ratios are per repetition (arms back to back) and of medians; absolute times depend on what else the "
        "host ran (load average above)."
    )
    return out
