"""The evaluation pipeline: a task set through the run loop, each task scored the moment it finishes, one
summary over the whole set.

The validator's round (`harness.evaluation.stage`), `harness selftest` (through the same stage) and `evaluate`
all go through `evaluate_task_set`, so a miner sees exactly the number a validator computes; `harness score`
re-scores recorded outcomes with the same per-task scoring (`harness.evaluation.task_scoring`) and the same
summariser. The engine is anything with `async chat_completion(payload) -> dict` (`ChatEngine`); this module
does not import a concrete engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.evaluation.report import build_report
from harness.evaluation.results import TaskResult, results_in_task_order
from harness.evaluation.run_loop import ChatEngine, RunControl, TaskOutcome, run_tasks
from harness.evaluation.summary import Summary, summarise
from harness.evaluation.task_scoring import Resources, score_task, select_tasks, withheld_outcome
from harness.settings.evaluation import EvaluationConfig
from harness.tasks.taskset import sha256_of
from scoring.config import ScoringConfig

ResultCallback = Callable[[TaskResult], None]
"""Called with each task's full result (outcome, raw response, parsed calls) the moment it is scored."""


@dataclass
class EvaluatedTaskSet:
    task_set: dict[str, Any]
    family_weights: Mapping[str, float]
    results: list[TaskResult]  # one per task of the set, in its order
    summary: Summary  # over the whole set, with the set's sha256
    over_budget: bool
    dead: BaseException | None  # the failure that showed the engine is gone
    stopped: bool
    wall_s: float
    tasks_sent: int


async def evaluate_task_set(
    engine: ChatEngine,
    task_set: dict,
    *,
    model: str,
    family_weights: Mapping[str, float],
    evaluation: EvaluationConfig,
    scoring: ScoringConfig,
    vision: bool = False,
    done: Mapping[str, Mapping[str, Any]] | None = None,
    on_result: ResultCallback | None = None,
    control: RunControl | None = None,
    resources: Resources | None = None,
) -> EvaluatedTaskSet:
    """Tasks in `done` (id -> compact record plus `score`, e.g. recorded before a restart) are kept as they are;
    tasks of families that need vision score 0 for a model without it; the rest go through the run loop, each
    scored the moment it finishes and handed to `on_result`; the summary covers the whole task set."""
    tasks = task_set["tasks"]
    done = done or {}
    results: dict[str, TaskResult] = {t["id"]: TaskResult.restored(t, done[t["id"]]) for t in tasks if t["id"] in done}

    def finish(task: dict, outcome: TaskOutcome) -> None:
        result = score_task(task, outcome, scoring, resources)
        results[task["id"]] = result
        if on_result is not None:
            on_result(result)

    sent, withheld = select_tasks(tasks, vision)
    for task in withheld:
        if task["id"] not in results:
            finish(task, withheld_outcome(task))
    todo = [task for task in sent if task["id"] not in results]
    run = await run_tasks(engine, todo, model=model, config=evaluation, on_outcome=finish, control=control)
    summary = summarise(tasks, results.values(), family_weights, scoring.ci_level)
    return EvaluatedTaskSet(
        task_set=task_set,
        family_weights=family_weights,
        results=results_in_task_order(tasks, results.values()),
        summary=summary.with_task_set(sha256_of(task_set)),
        over_budget=run.over_budget,
        dead=run.dead,
        stopped=run.stopped,
        wall_s=run.wall_s,
        tasks_sent=len(sent),
    )


async def evaluate(
    engine: ChatEngine,
    task_set: dict,
    *,
    model: str,
    family_weights: Mapping[str, float],
    evaluation: EvaluationConfig | None = None,
    scoring: ScoringConfig | None = None,
    vision: bool = False,
    competition: str | None = None,
    resources: Resources | None = None,
) -> dict[str, Any]:
    """The whole run: send, score, summarise. Returns the report (`harness.evaluation.report`)."""
    evaluation = evaluation or EvaluationConfig()
    scoring = scoring or ScoringConfig()
    run = await evaluate_task_set(
        engine,
        task_set,
        model=model,
        family_weights=family_weights,
        evaluation=evaluation,
        scoring=scoring,
        vision=vision,
        resources=resources,
    )
    return build_report(
        task_set=task_set,
        model=model,
        results=run.results,
        family_weights=family_weights,
        evaluation=evaluation,
        scoring=scoring,
        competition=competition,
        wall_s=run.wall_s,
        tasks_sent=run.tasks_sent,
        summary=run.summary,
    )
