"""Per-task scoring: which tasks a model is sent, and each task's outcome turned into a `TaskResult` by its
family's scorer (`harness.tasks.families`). Failed requests score 0.

A task's score depends on its outcome alone, never on which other tasks were scored with it (embedding batches
included), so a round that scores tasks as they finish and an offline re-score of all of them at once agree to
the last bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.evaluation.results import MISSING, TaskResult
from harness.evaluation.run_loop import TaskOutcome, failure_outcome
from harness.tasks.families import get_family
from scoring.config import ScoringConfig

Resources = Mapping[str, Any]
"""Family name -> what that family's scorer uses instead of the resource it builds itself (a test's scorer)."""


def select_tasks(tasks: Sequence[dict], vision: bool) -> tuple[list[dict], list[dict]]:
    """(sent, withheld): tasks of families that need vision go only to vision-capable models; withheld ones
    score 0."""
    withheld_ids = {id(t) for t in tasks if not vision and get_family(t["family"]).needs_vision}
    sent = [t for t in tasks if id(t) not in withheld_ids]
    withheld = [t for t in tasks if id(t) in withheld_ids]
    return sent, withheld


def withheld_outcome(task: Mapping[str, Any]) -> TaskOutcome:
    """The outcome of a task a model without vision is not sent."""
    return failure_outcome(task["id"], "not-vision-capable", f"{task['family']} task withheld")


def score_task(
    task: Mapping[str, Any], outcome: TaskOutcome | None, scoring: ScoringConfig, resources: Resources | None = None
) -> TaskResult:
    """One task's result; no outcome scores 0 as `missing-output`."""
    outcome = outcome or failure_outcome(task["id"], MISSING, "no output recorded")
    result = TaskResult(id=task["id"], family=task["family"], category=task["category"], outcome=outcome)
    if not outcome.error:
        family = get_family(task["family"])
        (fields,) = family.score([task], [outcome], scoring, (resources or {}).get(family.name))
        result.score = fields.pop("score")
        result.details = fields
    return result


def score_each(
    tasks: Sequence[Mapping[str, Any]],
    outcomes: Sequence[TaskOutcome],
    scoring: ScoringConfig,
    resources: Resources | None = None,
) -> list[TaskResult]:
    """Per-task results in task order; the first outcome recorded for a task counts, a task without one scores 0."""
    by_id: dict[str, TaskOutcome] = {}
    for outcome in outcomes:
        by_id.setdefault(outcome.task_id, outcome)
    return [score_task(task, by_id.get(task["id"]), scoring, resources) for task in tasks]
