"""The evaluate stage of a round: one prepared model, its seeded task set, a hardened sandbox, per-task records.

Each task's result is recorded the moment it is scored, so a stopped or crashed supervisor resumes with the
tasks still missing; the round's task set is rebuilt from the same seed, so the resumed tasks are the same
bytes. A sandbox that dies (crash, OOM) ends the model's evaluation with that failure class; tasks not started
before the model's time budget runs out score 0.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

from harness.config import Settings
from harness.evaluate import build_payload, failure_outcome, outcome_from_response, score_outcomes, select_tasks
from harness.prepare import PreparedModel, StageFailure
from harness.supervisor import EvaluationOutcome, Stopped, TaskRecorder
from harness.tasks.build import build_for_competition
from harness.tasks.taskset import sha256_of
from scoring.aggregate import combine, ema, family_estimate, to_weights

ENGINE_MODEL_NAME = "/model"
_DEAD_ENGINE = {"crashed", "oom"}


def weights_of(scores: Mapping[str, float], settings: Settings) -> dict[str, float]:
    return {
        str(k): v
        for k, v in to_weights(scores, settings.scoring.weights_method, settings.scoring.softmax_temperature).items()
    }


def ema_of(values: list[float], settings: Settings) -> float:
    average: float | None = None
    for value in values:
        average = ema(average, value, settings.scoring.ema_alpha)
    return average or 0.0


def summarise_scores(
    task_set: dict[str, Any], scores: Mapping[str, float], family_weights: Mapping[str, float], level: float
) -> dict[str, Any]:
    """Per-family estimates and the combined score over every task of the set (missing tasks count 0)."""
    by_family: dict[str, list[float]] = {}
    for task in task_set["tasks"]:
        by_family.setdefault(task["family"], []).append(float(scores.get(task["id"], 0.0)))
    estimates = {family: family_estimate(values, level) for family, values in by_family.items()}
    weights = {f: w for f, w in family_weights.items() if w > 0}
    combined = combine(estimates, weights)
    return {
        "score": vars(combined),
        "families": {family: vars(estimate) for family, estimate in estimates.items()},
        "family_weights": weights,
        "task_set_sha256": sha256_of(task_set),
        "tasks": len(task_set["tasks"]),
    }


class SandboxEvaluateStage:
    """Runs a model's tasks in a sandbox built from settings (`sandbox.engine`: cpu or sglang)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def task_set(self, competition: str, seed: str) -> tuple[dict[str, Any], Mapping[str, float]]:
        config = self.settings.competitions.get(competition)
        if config is None:
            raise StageFailure("evaluate", "unknown-competition", f"no competition named {competition!r}")
        return build_for_competition(seed, config.families, self.settings.tasks), config.families

    def __call__(
        self,
        prepared: PreparedModel,
        *,
        competition: str,
        seed: str,
        done: Mapping[str, float],
        record: TaskRecorder,
        deadline: float,
        stop: threading.Event,
    ) -> EvaluationOutcome:
        task_set, family_weights = self.task_set(competition, seed)
        sent, withheld = select_tasks(task_set["tasks"], bool(prepared.facts.get("vision")))
        scores = {task_id: score for task_id, score in done.items()}
        for task in withheld:
            if task["id"] not in scores:
                outcome = failure_outcome(task["id"], "not-vision-capable", "caption task withheld")
                self._record(task, outcome, scores, record)
        todo = [task for task in sent if task["id"] not in scores]
        budget_exceeded = False
        if todo:
            budget_exceeded = self._run_in_sandbox(prepared, competition, todo, scores, record, deadline, stop)
        details = summarise_scores(task_set, scores, family_weights, self.settings.scoring.ci_level)
        details.update(competition=competition, budget_exceeded=budget_exceeded)
        return EvaluationOutcome(score=float(details["score"]["mean"]), details=details)

    def _record(self, task: dict[str, Any], outcome: dict[str, Any], scores: dict[str, float], record: TaskRecorder):
        result = score_outcomes([task], [outcome], self.settings.scoring)[0]
        scores[task["id"]] = float(result["score"])
        keys = ("family", "category", "error", "latency_s", "valid", "error_type", "prompt_tokens", "completion_tokens")
        details = {k: result.get(k) for k in keys}
        details["content"] = (result.get("content") or "")[:2000] if isinstance(result.get("content"), str) else None
        record(task["id"], scores[task["id"]], details)

    def _run_in_sandbox(
        self,
        prepared: PreparedModel,
        competition: str,
        todo: list[dict[str, Any]],
        scores: dict[str, float],
        record: TaskRecorder,
        deadline: float,
        stop: threading.Event,
    ) -> bool:
        from harness.sandbox import SandboxError, SandboxSpec, run_sandbox

        spec = SandboxSpec.from_settings(self.settings.sandbox, competition=competition)
        try:
            with run_sandbox(spec, prepared.model_dir) as sandbox:
                return asyncio.run(self._run_tasks(sandbox, todo, scores, record, deadline, stop))
        except SandboxError as exc:
            raise StageFailure("sandbox", exc.failure_class, str(exc), details={"logs": exc.logs[-4000:]}) from None

    async def _run_tasks(
        self,
        sandbox: Any,
        todo: list[dict[str, Any]],
        scores: dict[str, float],
        record: TaskRecorder,
        deadline: float,
        stop: threading.Event,
    ) -> bool:
        config = self.settings.evaluation
        gate = asyncio.Semaphore(config.concurrency)
        over_budget = False
        dead: list[Any] = []

        async with sandbox.client(request_timeout=config.request_timeout_s) as client:

            async def one(task: dict[str, Any]) -> None:
                nonlocal over_budget
                async with gate:
                    if stop.is_set() or dead:
                        return
                    if time.monotonic() >= deadline:
                        over_budget = True
                        outcome = failure_outcome(task["id"], "time-budget", "the model's time budget ran out")
                        self._record(task, outcome, scores, record)
                        return
                    started = time.perf_counter()
                    try:
                        response = await client.chat_completion(build_payload(task, ENGINE_MODEL_NAME, config))
                    except Exception as exc:
                        failure = getattr(exc, "failure_class", None) or "engine-error"
                        if failure in _DEAD_ENGINE or not sandbox.state().get("Running", False):
                            dead.append(exc)
                            return
                        outcome = failure_outcome(task["id"], str(failure), str(exc), time.perf_counter() - started)
                    else:
                        outcome = outcome_from_response(task["id"], response, time.perf_counter() - started)
                    if not stop.is_set():
                        self._record(task, outcome, scores, record)

            await asyncio.gather(*(one(task) for task in todo))
        if dead:
            raise sandbox.classify(dead[0])
        if stop.is_set():
            raise Stopped()
        return over_budget
