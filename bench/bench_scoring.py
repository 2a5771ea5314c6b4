"""Scoring throughput, and evaluation throughput at concurrency 1 vs the configured concurrency.

- tool-call checks per second: `scoring.toolcall.check` on BFCL's python data (ground truth and perturbed calls),
  and parse+check on text answers; goal >= 20k checks/s.
- captions scored per second: fact check against the scene truth plus all-MiniLM-L6-v2 fluency (each text
  embedded alone, references cached), with penalties; and the fact check alone.
- tasks per second of `harness.evaluation.pipeline.evaluate` on the same engine at concurrency 1 and at
  `evaluation.concurrency`. `engine_throughput` takes any engine implementing the `ChatEngine` contract plus a
  way to start and stop it. By default (HARNESS_BENCH_ENGINE=sandbox) it is the real path: the bundled SmolLM2
  in the hardened CPU sandbox (`sandbox.engine=cpu`, transformers serve), reached through the socket client
  with its cap (`sandbox.cpu.max_concurrency`) lifted to the measured concurrency, so the engine itself is
  measured. HARNESS_BENCH_ENGINE=transformers runs the in-process adapter instead, `none` skips;
  HARNESS_BENCH_TASKS and HARNESS_BENCH_MAX_TOKENS size the run.

The >= 4x speedup goal from concurrency is a property of an engine with continuous batching (sglang on a GPU);
the CPU engine has none, so there concurrent requests only share two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.evaluation.pipeline import evaluate
from harness.sandbox.interface import ChatEngine
from harness.settings.evaluation import EvaluationConfig
from harness.settings.root import load_settings
from harness.tasks import build_family
from scoring.caption import CaptionScorer
from scoring.toolcall import check, parse_text

EngineStarter = Callable[[], Awaitable[tuple[ChatEngine, Callable[[], Awaitable[None]]]]]


def _check_cases() -> list[tuple[list, list, list, str]]:
    from tests.support.bfcl_support import PYTHON_CATEGORIES, calls_from_truth, load_category

    rng = random.Random(0)
    cases = []
    for category in PYTHON_CATEGORIES:
        for question, truth in load_category(category):
            calls = calls_from_truth(truth, 0)
            cases.append((question["function"], calls, truth, category))
            broken = copy.deepcopy(calls)
            if broken:
                ((_name, args),) = broken[rng.randrange(len(broken))].items()
                if args:
                    args[sorted(args)[0]] = "changed"
            cases.append((question["function"], broken, truth, category))
    return cases


def _rate(fn: Callable[[], int], min_seconds: float = 2.0) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        done += fn()
    return done / (time.perf_counter() - started)


def toolcall_rates() -> dict[str, Any]:
    cases = _check_cases()

    def run_checks() -> int:
        for functions, calls, truth, category in cases:
            check(functions, calls, truth, category)
        return len(cases)

    texts = [
        "["
        + ", ".join(f"{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for c in calls for n, a in c.items())
        + "]"
        for _, calls, _, _ in cases
    ]

    def run_parse_and_check() -> int:
        for (functions, _, truth, category), text in zip(cases, texts, strict=True):
            check(functions, parse_text(text).calls, truth, category)
        return len(cases)

    return {
        "cases": len(cases),
        "checks_per_s": round(_rate(run_checks)),
        "parse_and_checks_per_s": round(_rate(run_parse_and_check)),
        "goal_checks_per_s": 20_000,
    }


def caption_rate(n: int = 256) -> dict[str, Any]:
    """Captions scored per second, with the scene truth (facts + fluency) and, for comparison, without it.

    Each round's references repeat for every miner, so the first pass (references and captions new to the
    embedding cache) is timed apart from later passes (only the captions are new)."""
    tasks = build_family("bench", "caption", 32, load_settings().tasks)["tasks"]
    refs = [t["references"] for t in tasks]
    truths = [t["truth"] for t in tasks]
    captions = [r[i % len(r)].lower() for i, r in enumerate(refs)]
    repeats = max(1, n // len(tasks))

    def timed(scorer: CaptionScorer, with_truth: bool, tag: str) -> float:
        started = time.perf_counter()
        for k in range(repeats):
            fresh = [f"{c} ({tag}{k})" for c in captions]  # fresh texts: no cache effects for the captions
            scorer.score(fresh, refs, truths=truths if with_truth else None)
        return repeats * len(tasks) / (time.perf_counter() - started)

    cold = CaptionScorer()
    cold.score(["warm up"], [["the model loads outside the timing"]])
    started = time.perf_counter()
    cold.score(captions, refs, truths=truths)
    first_pass = len(tasks) / (time.perf_counter() - started)
    facts_started = time.perf_counter()
    from scoring.caption_facts import check

    for _ in range(repeats):
        for caption, truth in zip(captions, truths, strict=True):
            check(caption, truth)
    facts_rate = repeats * len(tasks) / (time.perf_counter() - facts_started)
    return {
        "captions": repeats * len(tasks),
        "captions_per_s": round(timed(cold, True, "t"), 1),
        "captions_per_s_no_truth": round(timed(cold, False, "n"), 1),
        "captions_per_s_first_pass_with_new_references": round(first_pass, 1),
        "fact_checks_per_s": round(facts_rate),
        "refs_each": len(refs[0]),
    }


async def engine_throughput(
    start_engine: EngineStarter,
    task_set: dict,
    concurrencies: list[int],
    evaluation: EvaluationConfig,
    label: str,
    model: str = "bench",
) -> dict[str, Any]:
    """Tasks per second of a full evaluation at each concurrency, on one started engine."""
    engine, stop = await start_engine()
    out: dict[str, Any] = {"engine": label, "tasks": len(task_set["tasks"]), "max_tokens": evaluation.max_tokens}
    try:
        await evaluate(
            engine,
            {**task_set, "tasks": task_set["tasks"][:2]},
            model=model,
            family_weights={"toolcall": 1},
            evaluation=evaluation,
        )
        for concurrency in concurrencies:
            config = evaluation.model_copy(update={"concurrency": concurrency})
            report = await evaluate(engine, task_set, model=model, family_weights={"toolcall": 1}, evaluation=config)
            out[f"tasks_per_s_c{concurrency}"] = round(report["tasks_per_s"], 3)
            out[f"errors_c{concurrency}"] = report["errors"]
    finally:
        await stop()
    first, last = concurrencies[0], concurrencies[-1]
    out["speedup"] = round(out[f"tasks_per_s_c{last}"] / out[f"tasks_per_s_c{first}"], 2)
    if any(out[f"errors_c{c}"] for c in concurrencies):
        out["speedup_valid"] = False  # failed requests return at once: a ratio over them measures nothing
    return out


def _transformers_starter(max_batch: int) -> EngineStarter:
    async def start() -> tuple[ChatEngine, Callable[[], Awaitable[None]]]:
        from bench.transformers_adapter import TransformersChatEngine
        from harness.demo.bundled_models import smollm2_dir

        engine = await TransformersChatEngine(smollm2_dir(load_settings().cache_dir), max_batch=max_batch).start()
        return engine, engine.close

    return start


def _sandbox_starter(concurrency: int) -> EngineStarter:
    async def start() -> tuple[ChatEngine, Callable[[], Awaitable[None]]]:
        from harness.demo.bundled_models import smollm2_dir
        from harness.sandbox import SandboxSpec, run_sandbox

        settings = load_settings()
        spec = SandboxSpec.from_settings(settings.sandbox, engine="cpu")
        stack = contextlib.ExitStack()
        sandbox = stack.enter_context(run_sandbox(spec, smollm2_dir(settings.cache_dir)))
        client = sandbox.client(max_concurrency=concurrency, request_timeout=600.0)
        await client.__aenter__()

        async def stop() -> None:
            try:
                await client.__aexit__(None, None, None)
            finally:
                stack.close()

        return client, stop

    return start


def run() -> dict[str, Any]:
    settings = load_settings()
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    result |= {"toolcall": toolcall_rates(), "caption": caption_rate()}
    engine = os.environ.get("HARNESS_BENCH_ENGINE", "sandbox")
    if engine in ("sandbox", "transformers"):
        concurrency = settings.evaluation.concurrency
        max_tokens = int(os.environ.get("HARNESS_BENCH_MAX_TOKENS", "32"))
        evaluation = settings.evaluation.model_copy(update={"max_tokens": max_tokens, "request_timeout_s": 600})
        task_set = build_family("bench", "toolcall", int(os.environ.get("HARNESS_BENCH_TASKS", "16")), settings.tasks)
        model = "/model" if engine == "sandbox" else "bench"
        if engine == "sandbox":
            starter = _sandbox_starter(concurrency)
            label = (
                f"SmolLM2-135M in the CPU sandbox (transformers serve, cpus limit {settings.sandbox.cpus}; client cap "
                f"sandbox.cpu.max_concurrency={settings.sandbox.cpu.max_concurrency} lifted to {concurrency})"
            )
        else:
            starter = _transformers_starter(concurrency)
            label = f"in-process transformers SmolLM2-135M (CPU, fp32, micro-batch {concurrency})"
        result["evaluation"] = asyncio.run(
            engine_throughput(starter, task_set, [1, concurrency], evaluation, label, model)
        )
    return result
