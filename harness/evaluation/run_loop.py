"""The run loop: sends a task set to an engine, at most `evaluation.concurrency` requests at once, and turns
each answer (or failure) into a `TaskOutcome`.

It knows nothing about task families or scores, only about requests, failures and deadlines. Every finished
task is handed to a callback the moment it is done, so the pipeline can score it and a caller can persist it
(the round's resume) or show progress (selftest). Each request has a timeout and a token cap.

A chat-template render that the engine cancelled at its deadline (`template-timeout`) fails its task; after
`evaluation.template_timeouts_max` of them the run stops and `RunResult.dead` holds the named failure
`evaluate/template-timeout`: a template that spins would otherwise cost a render deadline on every task until
the model's whole time budget ran out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import StageFailure
from harness.sandbox.interface import ChatEngine
from harness.settings.evaluation import EvaluationConfig


@dataclass
class TaskOutcome:
    """What came back for one task: the answer's message, usage and timing, or the failure that replaced it.

    Field order is the order these keys take in a report's task row (`TaskResult.to_dict`)."""

    task_id: str
    content: Any = None
    tool_calls: Any = None
    finish_reason: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    error_message: str | None = None
    response: Any = None

    def fields(self) -> dict[str, Any]:
        """The outcome as a report row's fields (without `task_id`: the row says `id`)."""
        row = vars(self).copy()
        del row["task_id"]
        return row


def build_payload(task: dict, model: str, config: EvaluationConfig) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "messages": task["messages"],
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "seed": config.seed,
    }
    if task.get("tools"):
        payload["tools"] = task["tools"]
    return payload


def _message_of(response: Any) -> tuple[dict | None, str | None]:
    """(message, finish_reason) of the first choice, or (None, None) when the shape is wrong."""
    if not isinstance(response, dict):
        return None, None
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, None
    message = choices[0].get("message")
    return (message if isinstance(message, dict) else None), choices[0].get("finish_reason")


def outcome_from_response(task_id: str, response: Any, latency_s: float | None = None) -> TaskOutcome:
    """A task's outcome from a raw response; a response without a message is a `bad-response` failure."""
    message, finish = _message_of(response)
    usage = response.get("usage") if isinstance(response, dict) and isinstance(response.get("usage"), dict) else {}
    outcome = TaskOutcome(
        task_id=task_id,
        content=message.get("content") if message else None,
        tool_calls=message.get("tool_calls") if message else None,
        finish_reason=finish,
        latency_s=latency_s,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        response=response,
    )
    if message is None:
        outcome.error, outcome.error_message = "bad-response", "response has no choices[0].message"
    return outcome


def failure_outcome(task_id: str, failure: str, message: str, latency_s: float | None = None) -> TaskOutcome:
    return TaskOutcome(task_id=task_id, latency_s=latency_s, error=failure, error_message=message[:500])


OutcomeCallback = Callable[[dict[str, Any], TaskOutcome], None]
"""Called with (task, outcome) for each task the moment it finished (answered, failed or out of time)."""


def _never_dead(_exc: BaseException) -> bool:
    return False


@dataclass
class RunControl:
    """When a run ends early. `deadline` is a `time.monotonic()` value: tasks not started by then fail as
    `time-budget` (they count 0); `stop` ends the run without recording unfinished tasks, so a resumed run redoes
    exactly those; `engine_dead(exc)` says a failure means the engine itself is gone (the run stops at once)."""

    deadline: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    engine_dead: Callable[[BaseException], bool] = _never_dead


@dataclass
class RunResult:
    outcomes: dict[str, TaskOutcome]  # task id -> outcome, for every task that finished
    over_budget: bool = False
    dead: BaseException | None = None  # the failure that showed the engine is gone
    stopped: bool = False
    wall_s: float = 0.0
    template_timeouts: int = 0  # renders the engine cancelled at its deadline


async def run_tasks(
    engine: ChatEngine,
    tasks: Sequence[dict],
    *,
    model: str,
    config: EvaluationConfig,
    on_outcome: OutcomeCallback | None = None,
    control: RunControl | None = None,
) -> RunResult:
    """Every task through the engine, at most `config.concurrency` at a time.

    Never more at once than the engine itself takes (`engine.max_concurrency`, when it says): a task's deadline
    (`request_timeout_s`) starts when it passes the gate, so a task queued behind others inside the client would
    time out for waiting its turn, and which tasks did would depend on the order, not on the model."""
    control = control or RunControl()
    gate = asyncio.Semaphore(min(config.concurrency, getattr(engine, "max_concurrency", config.concurrency)))
    result = RunResult(outcomes={})
    started_run = time.perf_counter()

    async def one(task: dict) -> None:
        async with gate:
            if control.stop.is_set() or result.dead is not None:
                return
            if control.deadline is not None and time.monotonic() >= control.deadline:
                result.over_budget = True
                outcome = failure_outcome(task["id"], "time-budget", "the model's time budget ran out")
            else:
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(
                        engine.chat_completion(build_payload(task, model, config)), config.request_timeout_s
                    )
                except TimeoutError:
                    outcome = failure_outcome(
                        task["id"], "request-timeout", f"no answer in {config.request_timeout_s}s", _since(started)
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the engine's failure is the task's result, not the run's end
                    failure = getattr(exc, "failure_class", None) or "engine-error"
                    # A render cancelled in the engine leaves it free again: counted, never taken for a dead one.
                    if failure != TEMPLATE_TIMEOUT and control.engine_dead(exc):
                        result.dead = result.dead or exc
                        return
                    if failure == TEMPLATE_TIMEOUT:
                        _count_template_timeout(result, config)
                    outcome = failure_outcome(task["id"], str(failure), f"{type(exc).__name__}: {exc}", _since(started))
                else:
                    outcome = outcome_from_response(task["id"], response, _since(started))
            if control.stop.is_set():
                return  # not recorded: a resumed run asks again
            result.outcomes[task["id"]] = outcome
            if on_outcome is not None:
                on_outcome(task, outcome)

    await asyncio.gather(*(one(task) for task in tasks))
    result.stopped = control.stop.is_set()
    result.wall_s = time.perf_counter() - started_run
    return result


TEMPLATE_TIMEOUT = "template-timeout"


def _count_template_timeout(result: RunResult, config: EvaluationConfig) -> None:
    """One more render cancelled by the engine; at the limit the run ends with the named failure."""
    result.template_timeouts += 1
    if result.template_timeouts >= config.template_timeouts_max and result.dead is None:
        result.dead = StageFailure(
            "evaluate",
            TEMPLATE_TIMEOUT,
            f"the chat template's render ran past the engine's deadline {result.template_timeouts} times "
            f"(evaluation.template_timeouts_max = {config.template_timeouts_max}); evaluation ended",
            details={"template_timeouts": result.template_timeouts},
        )


def _since(started: float) -> float:
    return time.perf_counter() - started
