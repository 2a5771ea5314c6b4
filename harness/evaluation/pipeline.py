"""Score a task set's outcomes, run a whole evaluation through the one core, and write its report.

`score_outcomes` is the single per-task scoring entry point; `evaluate_task_set` is the one pipeline (run loop,
per-task scoring the moment a task finishes, summary over the whole task set) that the validator's round,
`harness selftest` and `evaluate` share; `harness score` scores recorded outcomes with `score_each` and the same
summariser. Every raw response, latency, token count and failure is kept in the report, so a score can be
audited and re-scored offline. The engine is anything with `async chat_completion(payload) -> dict` (see
`harness.evaluation.run.ChatEngine`); this module does not import a concrete engine.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.evaluation.run import (
    ChatEngine,
    RunControl,
    failure_outcome,
    results_in_task_order,
    run_tasks,
    select_tasks,
    summarise,
)
from harness.settings.evaluation import EvaluationConfig
from harness.tasks.families import get_family
from harness.tasks.taskset import sha256_of
from scoring.config import ScoringConfig

if TYPE_CHECKING:
    from scoring.caption import CaptionScorer

__all__ = [
    "ChatEngine",
    "EvaluatedTaskSet",
    "build_report",
    "compact_result",
    "evaluate",
    "evaluate_task_set",
    "markdown_summary",
    "score_each",
    "score_outcomes",
    "write_report",
]

REPORT_FORMAT = "harness-report/1"


def score_outcomes(
    tasks: Sequence[dict],
    outcomes: Sequence[dict],
    scoring: ScoringConfig,
    caption_scorer: CaptionScorer | None = None,
) -> list[dict]:
    """Per-task results: the outcome plus `score` in [0, 1] and what explains it. Failed requests score 0;
    answered ones are scored by their task family (`harness.tasks.families`), a family's tasks in one batch."""
    by_id = {o["task_id"]: o for o in outcomes}
    resources = {"caption": caption_scorer}
    results: list[dict] = []
    answered: dict[str, list[tuple[int, dict, dict]]] = defaultdict(list)
    for task in tasks:
        outcome = by_id.get(task["id"]) or failure_outcome(task["id"], "missing-output", "no output recorded")
        fields = {k: v for k, v in outcome.items() if k != "task_id"}
        result = {"id": task["id"], "family": task["family"], "category": task["category"], **fields, "score": 0.0}
        if not outcome["error"]:
            answered[task["family"]].append((len(results), task, outcome))
        results.append(result)
    for name, rows in answered.items():
        family = get_family(name)
        scored = family.score([t for _, t, _ in rows], [o for _, _, o in rows], scoring, resources.get(name))
        for (index, _, _), fields in zip(rows, scored, strict=True):
            results[index].update(fields)
    return results


def score_each(
    tasks: Sequence[dict],
    outcomes: Sequence[dict],
    scoring: ScoringConfig,
    caption_scorer: CaptionScorer | None = None,
) -> list[dict]:
    """Per-task results, each task scored on its own: a task's score depends on its outcome alone, never on
    which other tasks were scored with it (embedding batches included), so a round that scores tasks as they
    finish and an offline re-score of all of them at once agree to the last bit."""
    by_id: dict[str, list[dict]] = {}
    for outcome in outcomes:
        by_id.setdefault(outcome["task_id"], [outcome])
    return [score_outcomes([task], by_id.get(task["id"], []), scoring, caption_scorer)[0] for task in tasks]


_COMPACT_KEYS = (
    "family",
    "category",
    "error",
    "latency_s",
    "valid",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
)


def compact_result(result: Mapping[str, Any], content_limit: int = 2000) -> dict[str, Any]:
    """What the state store keeps of a task's result: enough to summarise and explain it, without the raw
    response (the summariser reads only these fields)."""
    details = {key: result.get(key) for key in _COMPACT_KEYS}
    content = result.get("content")
    details["content"] = content[:content_limit] if isinstance(content, str) else None
    return details


ResultCallback = Callable[[dict[str, Any]], None]


@dataclass
class EvaluatedTaskSet:
    results: list[dict[str, Any]]  # one per task of the set, in its order
    summary: dict[str, Any]  # `evaluation_core.summarise` plus the task set's sha256
    over_budget: bool
    dead: BaseException | None
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
    caption_scorer: CaptionScorer | None = None,
) -> EvaluatedTaskSet:
    """The one evaluation pipeline: tasks in `done` (id -> result, e.g. recorded before a restart) are kept as
    they are; caption tasks of a model without vision score 0; the rest go through the run loop, each scored
    the moment it finishes and handed to `on_result`; the summary covers the whole task set."""
    done = dict(done or {})
    results: dict[str, dict[str, Any]] = {task_id: {"id": task_id, **row} for task_id, row in done.items()}

    def finish(task: dict, outcome: dict) -> None:
        result = score_each([task], [outcome], scoring, caption_scorer)[0]
        results[task["id"]] = result
        if on_result is not None:
            on_result(result)

    sent, withheld = select_tasks(task_set["tasks"], vision)
    for task in withheld:
        if task["id"] not in results:
            finish(task, failure_outcome(task["id"], "not-vision-capable", "caption task withheld"))
    todo = [task for task in sent if task["id"] not in results]
    run = await run_tasks(engine, todo, model=model, config=evaluation, on_outcome=finish, control=control)
    summary = summarise(task_set["tasks"], results.values(), family_weights, scoring.ci_level)
    summary["task_set_sha256"] = sha256_of(task_set)
    return EvaluatedTaskSet(
        results=results_in_task_order(task_set["tasks"], results.values()),
        summary=summary,
        over_budget=run.over_budget,
        dead=run.dead,
        stopped=run.stopped,
        wall_s=run.wall_s,
        tasks_sent=len(sent),
    )


_SUMMARY_KEYS = ("score", "family_weights", "families", "errors", "latency_s", "tokens")


def build_report(
    *,
    task_set: dict,
    model: str,
    results: list[dict],
    family_weights: Mapping[str, float],
    evaluation: EvaluationConfig,
    scoring: ScoringConfig,
    competition: str | None = None,
    wall_s: float | None = None,
    tasks_sent: int | None = None,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The evaluate report. `summary` is the one the evaluation computed (so a report repeats the evaluation's
    numbers instead of recomputing them); without it the same summariser runs over `results`."""
    if summary is None:
        summary = summarise(task_set["tasks"], results, family_weights, scoring.ci_level)
    return {
        "format": REPORT_FORMAT,
        "model": model,
        "competition": competition,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "task_set": {
            "sha256": sha256_of(task_set),
            "seed": task_set.get("seed"),
            "family": task_set.get("family"),
            "n": len(task_set.get("tasks", [])),
        },
        "settings": {"evaluation": evaluation.model_dump(), "scoring": scoring.model_dump()},
        "wall_s": wall_s,
        "tasks_per_s": (tasks_sent / wall_s) if wall_s and tasks_sent else None,
        **{key: summary[key] for key in _SUMMARY_KEYS},
        "tasks": results_in_task_order(task_set["tasks"], results),
    }


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
    caption_scorer: CaptionScorer | None = None,
) -> dict[str, Any]:
    """The whole run: send, score, summarise. Returns the report (see `write_report`)."""
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
        caption_scorer=caption_scorer,
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


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_summary(report: dict[str, Any], worst: int = 5) -> str:
    score = report["score"]
    lines = [
        f"# Evaluation of `{report['model']}`",
        "",
        f"- task set: `{report['task_set']['sha256']}` (seed `{report['task_set']['seed']}`, "
        f"{report['task_set']['n']} tasks)",
        f"- score: **{score['mean']:.3f}** (CI {score['low']:.3f}–{score['high']:.3f}), "
        f"family weights {report['family_weights']}",
        f"- failures: {report['errors'] or 'none'}",
        "",
        "| family | n | mean | CI | failures |",
        "|---|---|---|---|---|",
    ]
    for family, f in report["families"].items():
        lines.append(f"| {family} | {f['n']} | {f['mean']:.3f} | {f['low']:.3f}–{f['high']:.3f} | {f['errors']} |")
    for family, f in report["families"].items():
        lines += ["", f"## {family}", "", "| category | n | mean |", "|---|---|---|"]
        lines += [f"| {c} | {v['n']} | {v['mean']:.3f} |" for c, v in f["categories"].items()]
        rows = sorted((r for r in report["tasks"] if r["family"] == family), key=lambda r: (r["score"], r["id"]))
        if rows and worst:
            lines += ["", f"Worst {min(worst, len(rows))}:", "", "| task | category | score | why | output |"]
            lines.append("|---|---|---|---|---|")
            for r in rows[:worst]:
                why = r.get("error") or r.get("error_type") or ",".join(r.get("flags") or []) or ""
                output = r.get("tool_calls") or r.get("content") or ""
                lines.append(
                    f"| {r['id']} | {r['category']} | {r['score']:.3f} | {_short(why, 40)} | {_short(output)} |"
                )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], json_path: Path, markdown_path: Path | None = None, worst: int = 5) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if markdown_path is not None:
        markdown_path.write_text(markdown_summary(report, worst), encoding="utf-8")
