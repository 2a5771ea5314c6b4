"""The evaluate stage's bookkeeping that needs no engine: task selection, resume, summaries, weights."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationRequest
from harness.evaluation.stage import SandboxEvaluateStage
from harness.models.prepare import PreparedModel
from harness.settings.root import Settings
from harness.tasks.taskset import sha256_of


def _settings(**overrides: Any) -> Settings:
    return Settings(tasks={"toolcall_n": 4, "caption_n": 3}, **overrides)


def test_resumed_text_only_model_needs_no_engine_and_scores_withheld_captions_zero() -> None:
    settings = _settings()
    stage = SandboxEvaluateStage(settings)
    task_set = stage.task_set("any2any", "seed-1").task_set
    toolcall_ids = [t["id"] for t in task_set["tasks"] if t["family"] == "toolcall"]
    caption_ids = [t["id"] for t in task_set["tasks"] if t["family"] == "caption"]
    done = {task_id: {"score": 1.0} for task_id in toolcall_ids}  # every task an engine would get is already recorded
    recorded: list[tuple[str, float]] = []
    outcome = stage(
        PreparedModel(model_dir=Path("/nonexistent"), identity="x", facts={"vision": False}),
        EvaluationRequest(
            competition="any2any",
            seed="seed-1",
            done=done,
            record=lambda task_id, score, _details: recorded.append((task_id, score)),
            deadline=time.monotonic() + 60,
            stop=threading.Event(),
        ),
    )
    assert sorted(recorded) == sorted((task_id, 0.0) for task_id in caption_ids)
    families = outcome.details["families"]
    assert families["toolcall"]["mean"] == pytest.approx(1.0)
    assert families["caption"]["mean"] == pytest.approx(0.0)
    assert outcome.score == pytest.approx(0.5)  # any2any weighs the two families equally
    assert outcome.details["task_set_sha256"] == sha256_of(task_set)


def test_unknown_competition_is_a_stage_failure() -> None:
    stage = SandboxEvaluateStage(_settings())
    with pytest.raises(StageFailure) as info:
        stage.task_set("nope", "seed")
    assert info.value.failure_class == "unknown-competition"
