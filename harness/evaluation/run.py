"""The one evaluation core: the run loop that sends a task set to an engine, and the summariser over a task set.

The validator's round (`harness.evaluation.stage.SandboxEvaluateStage`), the miner's `harness selftest` and the
offline `harness score` all go through these two functions, so a miner sees exactly the number a validator
computes. Scoring a single outcome is `harness.evaluation.pipeline.score_outcomes`; this module knows nothing about task
families, only about requests, failures, deadlines and how per-task scores add up.

Requests go out concurrently up to `evaluation.concurrency` so that a batching engine fills its batches; each
has a timeout and a token cap. Every finished task is handed to a callback the moment it is done, so a caller
can persist it (the round's resume) or show progress (selftest).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.settings.evaluation import EvaluationConfig
from harness.tasks.families import get_family
from scoring.aggregate import Estimate, combine, family_estimate


@runtime_checkable
class ChatEngine(Protocol):
    """What evaluation needs from an engine: one OpenAI-compatible chat completion.

    `payload` is the `/v1/chat/completions` body (model, messages, tools, max_tokens, temperature, seed); the
    result is the raw response JSON. Failures raise an exception whose `failure_class` attribute is one of
    `request-timeout`, `bad-response`, `crashed`.
    """

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]: ...


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


def outcome_from_response(task_id: str, response: Any, latency_s: float | None = None) -> dict[str, Any]:
    """A task's record from a raw response; a response without a message is a `bad-response` failure."""
    message, finish = _message_of(response)
    usage = response.get("usage") if isinstance(response, dict) and isinstance(response.get("usage"), dict) else {}
    outcome: dict[str, Any] = {
        "task_id": task_id,
        "content": message.get("content") if message else None,
        "tool_calls": message.get("tool_calls") if message else None,
        "finish_reason": finish,
        "latency_s": latency_s,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "error": None,
        "error_message": None,
        "response": response,
    }
    if message is None:
        outcome["error"], outcome["error_message"] = "bad-response", "response has no choices[0].message"
    return outcome


def failure_outcome(task_id: str, failure: str, message: str, latency_s: float | None = None) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "content": None,
        "tool_calls": None,
        "finish_reason": None,
        "latency_s": latency_s,
        "prompt_tokens": None,
        "completion_tokens": None,
        "error": failure,
        "error_message": message[:500],
        "response": None,
    }


def select_tasks(tasks: Sequence[dict], vision: bool) -> tuple[list[dict], list[dict]]:
    """(sent, withheld): tasks of families that need vision go only to vision-capable models; withheld ones
    score 0."""
    withheld_ids = {id(t) for t in tasks if not vision and get_family(t["family"]).needs_vision}
    sent = [t for t in tasks if id(t) not in withheld_ids]
    withheld = [t for t in tasks if id(t) in withheld_ids]
    return sent, withheld


OutcomeCallback = Callable[[dict[str, Any], dict[str, Any]], None]
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
    outcomes: dict[str, dict[str, Any]]  # task id -> outcome, for every task that finished
    over_budget: bool = False
    dead: BaseException | None = None  # the failure that showed the engine is gone
    stopped: bool = False
    wall_s: float = 0.0


async def run_tasks(
    engine: ChatEngine,
    tasks: Sequence[dict],
    *,
    model: str,
    config: EvaluationConfig,
    on_outcome: OutcomeCallback | None = None,
    control: RunControl | None = None,
) -> RunResult:
    """Every task through the engine, at most `config.concurrency` at a time. The one run loop of the harness.

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
                    if control.engine_dead(exc):
                        result.dead = result.dead or exc
                        return
                    failure = getattr(exc, "failure_class", None) or "engine-error"
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


def _since(started: float) -> float:
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def missing_result(task: Mapping[str, Any]) -> dict[str, Any]:
    """The result of a task nothing was recorded for: it counts 0."""
    return {
        "id": task["id"],
        "family": task["family"],
        "category": task.get("category"),
        "score": 0.0,
        "error": "missing-output",
    }


def results_in_task_order(tasks: Sequence[Mapping[str, Any]], results: Iterable[Mapping[str, Any]]) -> list[dict]:
    """One result per task of the set, in the set's order; a task without a result gets `missing_result`."""
    by_id = {r["id"]: r for r in results}
    return [dict(by_id[t["id"]]) if t["id"] in by_id else missing_result(t) for t in tasks]


def summarise(
    tasks: Sequence[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any]],
    family_weights: Mapping[str, float],
    level: float = 0.95,
) -> dict[str, Any]:
    """The competition score over the whole task set: per-family estimates, per-category means, failure counts,
    latency and tokens. Every task of the set counts, and a task without a result counts 0, so a model cannot
    raise its score by leaving out hard tasks. Family and category come from the task, never from the result.
    Family weights: the positive ones; none positive means every family of the set weighs the same."""
    rows = results_in_task_order(tasks, results)
    grouped: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = defaultdict(list)
    for task, row in zip(tasks, rows, strict=True):
        grouped[task["family"]].append((task, row))
    families: dict[str, Any] = {}
    estimates: dict[str, Estimate] = {}
    for family, pairs in sorted(grouped.items()):
        scores = [float(row["score"]) for _task, row in pairs]
        estimates[family] = family_estimate(scores, level)
        categories: dict[str, list[float]] = defaultdict(list)
        for task, row in pairs:
            categories[str(task.get("category"))].append(float(row["score"]))
        families[family] = {
            **vars(estimates[family]),
            "errors": sum(1 for _task, row in pairs if row.get("error")),
            "categories": {c: {"mean": statistics.fmean(v), "n": len(v)} for c, v in sorted(categories.items())},
        }
    weights = {f: float(w) for f, w in family_weights.items() if w > 0} or {f: 1.0 for f in estimates}
    latencies = [r["latency_s"] for r in rows if isinstance(r.get("latency_s"), int | float)]
    return {
        "score": vars(combine(estimates, weights)) if weights else vars(Estimate(0.0, 0.0, 0.0, 0)),
        "family_weights": weights,
        "families": families,
        "errors": dict(Counter(str(r["error"]) for r in rows if r.get("error"))),
        "latency_s": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
        "tokens": {
            "prompt": sum(r.get("prompt_tokens") or 0 for r in rows),
            "completion": sum(r.get("completion_tokens") or 0 for r in rows),
        },
        "tasks": len(rows),
    }
