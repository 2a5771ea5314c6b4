"""Renders the engine cancelled at its deadline: counted per model, and the N-th ends the evaluation as
`evaluate/template-timeout` instead of letting a spinning template spend the model's whole time budget.

The engine is a stand-in at the boundary (the real engine's answer is covered by tests/unit/harness/sandbox/
test_engine.py and, in a real sandbox, by tests/docker/test_sandbox_hostile_docker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import StageFailure
from harness.evaluation.run_loop import RunControl, run_tasks
from harness.evaluation.stage import SandboxEvaluateStage
from harness.models.prepare import PreparedModel
from harness.sandbox.engine import EngineError
from harness.sandbox.interface import ChatEngine, Sandbox, SandboxError
from harness.settings.evaluation import EvaluationConfig
from harness.settings.root import Settings

ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


class RenderTimingOutEngine:
    """Answers the task ids in `good` and cancels every other render, as the engine's guard does."""

    def __init__(self, good: frozenset[int] = frozenset()) -> None:
        self.good = good
        self.calls = 0

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0)
        if self.calls in self.good:
            return ANSWER
        raise EngineError("template-timeout", "HTTP 422: template-timeout: chat template render exceeded 10s")


def _tasks(n: int) -> list[dict]:
    return [{"id": f"t{i}", "messages": [{"role": "user", "content": "hi"}]} for i in range(n)]


def test_the_third_cancelled_render_ends_the_run_with_the_named_failure() -> None:
    engine = RenderTimingOutEngine()
    asked_dead: list[BaseException] = []

    def engine_dead(exc: BaseException) -> bool:
        asked_dead.append(exc)
        return False

    config = EvaluationConfig(concurrency=1, template_timeouts_max=3)
    result = asyncio.run(
        run_tasks(engine, _tasks(20), model="/model", config=config, control=RunControl(engine_dead=engine_dead))
    )
    assert engine.calls == 3  # the 17 tasks after the third were never sent
    assert [o.error for o in result.outcomes.values()] == ["template-timeout"] * 3
    assert result.template_timeouts == 3
    assert isinstance(result.dead, StageFailure)
    assert (result.dead.stage, result.dead.failure_class) == ("evaluate", "template-timeout")
    assert asked_dead == []  # an engine that cancelled a render is free again, never taken for a dead one


def test_cancelled_renders_count_across_answered_tasks_and_under_the_limit_the_run_goes_on() -> None:
    engine = RenderTimingOutEngine(good=frozenset({1, 3, 5, 6}))
    config = EvaluationConfig(concurrency=1, template_timeouts_max=3)
    result = asyncio.run(run_tasks(engine, _tasks(6), model="/model", config=config))
    errors = [result.outcomes[f"t{i}"].error for i in range(6)]
    assert errors == [None, "template-timeout", None, "template-timeout", None, None]
    assert result.dead is None and result.template_timeouts == 2


class _Sandbox(Sandbox):
    def __init__(self, engine: ChatEngine) -> None:
        self.engine = engine

    def client(self, **limits: Any) -> contextlib.AbstractAsyncContextManager[ChatEngine]:
        @contextlib.asynccontextmanager
        async def opened() -> AsyncIterator[ChatEngine]:
            yield self.engine

        return opened()

    def health(self) -> bool:
        return True

    def classify(self, error: BaseException) -> SandboxError:
        return SandboxError("crashed", str(error))


def test_the_stage_records_the_cancelled_tasks_and_fails_as_evaluate_template_timeout() -> None:
    settings = Settings(tasks={"toolcall_n": 8}, evaluation={"template_timeouts_max": 2, "concurrency": 1})
    engine = RenderTimingOutEngine()

    @contextlib.contextmanager
    def opener(_prepared: PreparedModel, _competition: str) -> Iterator[Sandbox]:
        yield _Sandbox(engine)

    stage = SandboxEvaluateStage(settings, open_sandbox=opener)
    recorded: list[str | None] = []
    with pytest.raises(StageFailure) as failure:
        stage.evaluate(
            PreparedModel(model_dir=Path("/nonexistent"), identity="spinner"),
            stage.task_set("toolcall", "seed"),
            on_result=lambda result: recorded.append(result.error),
            deadline=time.monotonic() + 60,
            stop=threading.Event(),
        )
    assert (failure.value.stage, failure.value.failure_class) == ("evaluate", "template-timeout")
    assert not failure.value.retryable  # the model's template, not our fault: not tried again next round
    assert recorded == ["template-timeout", "template-timeout"] and engine.calls == 2
