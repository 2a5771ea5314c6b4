"""Issue 5 end to end: the real SmolLM2 served by the CPU engine inside the hardened sandbox, a small seeded task
set sent through the socket client, and a complete report (every task scored, task-set sha256, families,
latency, tokens)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from harness.evaluation.pipeline import evaluate
from harness.evaluation.report import write_report
from harness.sandbox import SandboxSpec, docker_client, run_sandbox
from harness.settings.evaluation import EvaluationConfig
from harness.settings.root import Settings
from harness.tasks import build_for_competition, sha256_of
from harness.tasks.config import TasksConfig

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WEIGHTS = {"toolcall": 0.5, "caption": 0.5}


def _evaluate_in_sandbox(model_dir: Path, task_set: dict, max_tokens: int = 32) -> dict:
    spec = SandboxSpec.from_settings(Settings().sandbox, engine="cpu", memory_limit="4g", competition="any2any")
    label = uuid.uuid4().hex[:12]
    spec.extra_labels["io.harness.test"] = label
    docker = docker_client()
    try:
        with run_sandbox(spec, model_dir, client=docker) as sandbox:

            async def run() -> dict:
                async with sandbox.client() as client:
                    return await evaluate(
                        client,
                        task_set,
                        model="/model",
                        family_weights=WEIGHTS,
                        evaluation=EvaluationConfig(concurrency=2, max_tokens=max_tokens, request_timeout_s=300),
                        vision=False,
                        competition="any2any",
                    )

            report = asyncio.run(run())
        left = docker.containers.list(all=True, filters={"label": f"io.harness.test={label}"})
        assert not left, "the sandbox container must be removed after the run"
    finally:
        docker.close()
    return report


def test_smollm2_in_the_cpu_sandbox_produces_a_complete_report(smollm2: Path, tmp_path: Path) -> None:
    task_set = build_for_competition("sandbox-real-model", WEIGHTS, TasksConfig(toolcall_n=5, caption_n=1))
    report = _evaluate_in_sandbox(smollm2, task_set)

    write_report(report, tmp_path / "report.json", tmp_path / "report.md")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["task_set"]["sha256"] == sha256_of(task_set)
    assert {r["id"] for r in saved["tasks"]} == {t["id"] for t in task_set["tasks"]}
    toolcall = [r for r in saved["tasks"] if r["family"] == "toolcall"]
    assert len(toolcall) == 5
    for r in toolcall:
        assert r["error"] is None, r
        assert isinstance(r["content"], str) or r.get("tool_calls"), r
        assert r["completion_tokens"] > 0 and r["prompt_tokens"] > 50 and r["latency_s"] > 0
        assert 0.0 <= r["score"] <= 1.0 and "valid" in r and "partial" in r
    assert set(saved["families"]) == {"toolcall", "caption"}
    assert saved["families"]["toolcall"]["n"] == 5
    assert saved["errors"] == {"not-vision-capable": 1}
    assert saved["latency_s"]["p50"] > 0 and saved["latency_s"]["p95"] >= saved["latency_s"]["p50"]
    assert saved["tokens"]["prompt"] > 0 and saved["tokens"]["completion"] > 0
    assert 0.0 <= saved["score"]["mean"] <= 0.5
    assert "## toolcall" in (tmp_path / "report.md").read_text()


def test_degraded_model_earns_no_irrelevance_points(cache_dir: Path) -> None:
    """The exploit found in a real round: noise weights answer gibberish, which never decodes as a call, and used
    to score every irrelevance task. Now the answer must be plain words."""
    from harness.demo.bundled_models import smollm2_degraded_dir
    from harness.tasks import build_family

    tasks = TasksConfig(toolcall_categories={"irrelevance": 1.0}, bfcl_fraction=0.0)
    task_set = build_family("degraded-irrelevance", "toolcall", 3, tasks)
    report = _evaluate_in_sandbox(smollm2_degraded_dir(cache_dir), task_set, max_tokens=24)
    assert [r["category"] for r in report["tasks"]] == ["irrelevance"] * 3
    for r in report["tasks"]:
        assert r["error"] is None and r["score"] == 0.0, r
        assert r["error_type"] in {"irrelevance_error:not_plain_words", "irrelevance_error:decoder_success"}, r
