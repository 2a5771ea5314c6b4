"""End to end with a real model: the bundled SmolLM2 served in-process (transformers, greedy) behind the engine
contract, a small seeded task set, and a complete report. The sandboxed version of this run is added when the
sandbox engine lands; this one checks the loop, the prompts and the scoring on real model output now."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.transformers_adapter import TransformersChatEngine
from harness.evaluation.pipeline import evaluate
from harness.evaluation.report import write_report
from harness.settings.evaluation import EvaluationConfig
from harness.tasks import build_for_competition, sha256_of
from harness.tasks.config import TasksConfig


@pytest.mark.slow
def test_smollm2_evaluation_produces_a_complete_report(smollm2: Path, tmp_path: Path) -> None:
    task_set = build_for_competition(
        "real-model", {"toolcall": 0.5, "caption": 0.5}, TasksConfig(toolcall_n=6, caption_n=2)
    )

    async def run() -> tuple[dict, list[int]]:
        engine = await TransformersChatEngine(smollm2, max_batch=6).start()
        try:
            report = await evaluate(
                engine,
                task_set,
                model="smollm2-135m-instruct",
                family_weights={"toolcall": 0.5, "caption": 0.5},
                evaluation=EvaluationConfig(concurrency=6, max_tokens=40, request_timeout_s=300),
                vision=False,  # SmolLM2 reads text only: caption tasks are withheld and score 0
                competition="any2any",
            )
        finally:
            await engine.close()
        return report, engine.batches

    report, batches = asyncio.run(run())
    assert max(batches) > 1, "concurrent requests should reach the model as one batch"
    write_report(report, tmp_path / "report.json", tmp_path / "report.md")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["task_set"]["sha256"] == sha256_of(task_set)
    toolcall = [r for r in saved["tasks"] if r["family"] == "toolcall"]
    assert len(toolcall) == 6
    for r in toolcall:
        assert r["error"] is None, r
        assert isinstance(r["content"], str) and r["content"].strip()
        assert r["completion_tokens"] > 0 and r["prompt_tokens"] > 100 and r["latency_s"] > 0
        assert 0.0 <= r["score"] <= 1.0 and "valid" in r and "partial" in r
    assert saved["errors"] == {"not-vision-capable": 2}
    assert 0.0 <= saved["score"]["mean"] <= 0.5
    assert "## toolcall" in (tmp_path / "report.md").read_text()
