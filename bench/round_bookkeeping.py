"""Round bookkeeping cost: everything a round does besides policy, download and inference, for N models.

The supervisor runs on the real local chain and the real state store; the prepare and evaluate stages are
instant scripted stand-ins that still record every task result, so what is timed is the chain reads, the
per-model store steps (verdict, identity registry, evaluation, task results), the aggregation and the weights.
Linear cost shows as a flat time per model from 64 to 256 models; the per-row scans the store used to do grew
with the square of the number of models.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from chain.commitment import format as format_commitment
from chain.local import LocalChain
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest
from harness.logging import configure_logging
from harness.models.prepare import PreparedModel
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store

TASKS_PER_MODEL = 16
COPY_EVERY = 8  # every 8th miner commits a copy of the miner before it


def _prepare(record: Any, _settings: Settings) -> PreparedModel:
    index = int(record.hotkey[2:])
    identity = f"id{index - 1 if index % COPY_EVERY == 0 and index else index}"
    return PreparedModel(model_dir=Path("/nonexistent"), identity=identity, facts={"index": index})


def _evaluate(prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
    quality = (prepared.facts["index"] % 10) / 10
    for task in range(TASKS_PER_MODEL):
        if f"t{task}" not in request.done:
            request.record(f"t{task}", quality, {"family": "toolcall", "category": "simple", "error": None})
    return EvaluationOutcome(score=quality, details={"competition": request.competition})


def _one(models: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-bookkeeping-") as tmp:
        root = Path(tmp)
        chain = LocalChain(root / "chain.sqlite", block_period_s=0)
        for n in range(models):
            chain.register(f"hk{n}")
            chain.commit(f"hk{n}", format_commitment(f"org/m{n}", "a" * 40, f"{n:064x}"))
        chain.advance(1)
        settings = Settings(cache_dir=root / "cache", supervisor={"max_models_per_round": max(models, 1)})
        store = Store(root / "state.sqlite")
        supervisor = Supervisor(settings, chain, store, executor=single_slot(), evaluate=_evaluate, prepare=_prepare)
        started = time.perf_counter()
        round_id = supervisor.run_round()
        round_s = time.perf_counter() - started
        started = time.perf_counter()
        report = store.read.report(round_id)
        status = store.read.status()
        report_s = time.perf_counter() - started
        assert len(report["evaluations"]) == models - (models - 1) // COPY_EVERY
        assert status["last_weights"] is not None
        store.close()
    return {
        "models": models,
        "round_bookkeeping_s": round(round_s, 3),
        "per_model_ms": round(1000 * round_s / models, 2),
        "report_and_status_ms": round(1000 * report_s, 1),
    }


def run_bookkeeping(sizes: tuple[int, ...] = (64, 128, 256)) -> dict[str, Any]:
    configure_logging("warning")  # a log line per model would be timed too
    runs = [_one(n) for n in sizes]
    return {
        "tasks_per_model": TASKS_PER_MODEL,
        "runs": runs,
        "per_model_ratio_largest_to_smallest": round(runs[-1]["per_model_ms"] / runs[0]["per_model_ms"], 3),
        "note": "scripted instant prepare/evaluate; the time is the round's own bookkeeping on the real local "
        "chain and state store. A ratio near 1 means cost linear in the number of models.",
    }
