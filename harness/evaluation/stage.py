"""The evaluate stage of a round: one prepared model, its seeded task set, a hardened sandbox, per-task records.

The stage is a thin shell around the one evaluation pipeline (`harness.evaluation.pipeline.evaluate_task_set`): it opens
the sandbox, hands the pipeline the sandbox's client, and records each task's result the moment it is scored,
so a stopped or crashed supervisor resumes with the tasks still missing; the round's task set is rebuilt from
the same seed, so the resumed tasks are the same bytes. A sandbox that dies (crash, OOM) ends the model's
evaluation with that failure class; tasks not started before the model's time budget runs out score 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationOutcome, Stopped, TaskRecorder
from harness.evaluation.pipeline import EvaluatedTaskSet, compact_result, evaluate_task_set
from harness.evaluation.run import RunControl
from harness.models.prepare import PreparedModel
from harness.settings.root import Settings
from harness.tasks.build import build_for_competition

ENGINE_MODEL_NAME = "/model"
_DEAD_ENGINE = {"crashed", "oom"}

SandboxOpener = Callable[[PreparedModel, str], contextlib.AbstractContextManager[Any]]
"""(prepared model, competition) -> a context manager yielding a running sandbox: `client()` (an async context
manager giving a chat engine), `state()` (Docker's container state) and `classify(exc)` (the failure to raise
when the engine died)."""


@contextlib.contextmanager
def open_docker_sandbox(settings: Settings, prepared: PreparedModel, competition: str) -> Iterator[Any]:
    from harness.sandbox import SandboxError, SandboxSpec, run_sandbox
    from harness.sandbox.pool import current_overrides

    # In a pool, the slot this thread holds pins the sandbox to its GPU or cores.
    spec = SandboxSpec.from_settings(settings.sandbox, competition=competition, **current_overrides())
    try:
        with run_sandbox(spec, prepared.model_dir) as sandbox:
            yield sandbox
    except SandboxError as exc:
        raise StageFailure("sandbox", exc.failure_class, str(exc), details={"logs": exc.logs[-4000:]}) from None


class SandboxEvaluateStage:
    """Runs a model's tasks in a sandbox built from settings (`sandbox.engine`: cpu or sglang)."""

    def __init__(self, settings: Settings, open_sandbox: SandboxOpener | None = None) -> None:
        self.settings = settings
        self.open_sandbox = open_sandbox or (
            lambda prepared, competition: open_docker_sandbox(settings, prepared, competition)
        )

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
        done: Mapping[str, Mapping[str, Any]],
        record: TaskRecorder,
        deadline: float,
        stop: threading.Event,
    ) -> EvaluationOutcome:
        task_set, family_weights = self.task_set(competition, seed)
        vision = bool(prepared.facts.get("vision"))
        sent_ids = {t["id"] for t in task_set["tasks"] if vision or t["family"] != "caption"}
        needs_engine = any(task_id not in done for task_id in sent_ids)

        def on_result(result: dict[str, Any]) -> None:
            record(result["id"], float(result["score"]), compact_result(result))

        async def run(engine: Any, engine_dead: Callable[[BaseException], bool]) -> EvaluatedTaskSet:
            return await evaluate_task_set(
                engine,
                task_set,
                model=ENGINE_MODEL_NAME,
                family_weights=family_weights,
                evaluation=self.settings.evaluation,
                scoring=self.settings.scoring,
                vision=vision,
                done=done,
                on_result=on_result,
                control=RunControl(deadline=deadline, stop=stop, engine_dead=engine_dead),
            )

        async def in_sandbox(sandbox: Any) -> EvaluatedTaskSet:
            def engine_dead(exc: BaseException) -> bool:
                return getattr(exc, "failure_class", None) in _DEAD_ENGINE or not sandbox.state().get("Running")

            async with sandbox.client(request_timeout=self.settings.evaluation.request_timeout_s) as client:
                return await run(client, engine_dead)

        if needs_engine:
            with self.open_sandbox(prepared, competition) as sandbox:
                evaluated = asyncio.run(in_sandbox(sandbox))
                if evaluated.dead is not None:
                    raise sandbox.classify(evaluated.dead)  # the opener turns it into the stage's failure
        else:  # resumed with every engine task recorded: no sandbox starts
            evaluated = asyncio.run(run(_NoEngine(), lambda _exc: True))
        if evaluated.stopped:
            raise Stopped()
        details = dict(evaluated.summary)
        details.update(competition=competition, budget_exceeded=evaluated.over_budget)
        return EvaluationOutcome(score=float(details["score"]["mean"]), details=details)


class _NoEngine:
    """Stands in when every task the engine would get is already recorded: nothing is sent, no sandbox starts."""

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no task needs the engine")
