"""The evaluate report: one JSON document per evaluation (settings, the summary, every task's full result with
its raw response, latency, tokens and failure), and its Markdown rendering.

A report keeps everything needed to audit a score and re-score it offline; `harness selftest`, `evaluate` and
`harness score` all write this one format.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.evaluation.results import TaskResult, results_in_task_order
from harness.evaluation.summary import Summary, summarise
from harness.settings.evaluation import EvaluationConfig
from harness.tasks.taskset import sha256_of
from harness.views.explain import expected_of, task_reason, truncated
from harness.views.safe_text import for_markdown
from scoring.config import ScoringConfig

REPORT_FORMAT = "harness-report/1"

_SUMMARY_KEYS = ("score", "family_weights", "families", "errors", "latency_s", "tokens")


def build_report(
    *,
    task_set: dict,
    model: str,
    results: Sequence[TaskResult],
    family_weights: Mapping[str, float],
    evaluation: EvaluationConfig,
    scoring: ScoringConfig,
    competition: str | None = None,
    wall_s: float | None = None,
    tasks_sent: int | None = None,
    summary: Summary | None = None,
) -> dict[str, Any]:
    """The report. `summary` is the one the evaluation computed (so a report repeats the evaluation's numbers
    instead of recomputing them); without it the same summariser runs over `results`."""
    if summary is None:
        summary = summarise(task_set["tasks"], results, family_weights, scoring.ci_level)
    numbers = summary.to_dict()
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
        **{key: numbers[key] for key in _SUMMARY_KEYS},
        "tasks": explained_rows(task_set["tasks"], results, evaluation.max_tokens),
    }


def explained_rows(
    tasks: Sequence[Mapping[str, Any]], results: Sequence[TaskResult], max_tokens: int | None
) -> list[dict[str, Any]]:
    """Each task's full result plus what it expected (a tool call's accepted calls, a caption's ground truth),
    whether the answer hit the token cap, and why it scored what it did (`harness.views.explain`)."""
    rows = []
    for task, result in zip(tasks, results_in_task_order(tasks, results), strict=True):
        row = result.to_dict()
        row["expected"] = expected_of(task)
        row["truncated"] = truncated(row, max_tokens)
        row["reason"] = task_reason(row, max_tokens)
        rows.append(row)
    return rows


def _short(value: Any, limit: int = 80) -> str:
    """A cell of untrusted text (a model's answer): `for_markdown`, which escapes controls, bidi and invisible
    characters, Markdown metacharacters and mentions, on one line, cut to `limit`."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return for_markdown(text, limit)


def markdown_summary(report: dict[str, Any], worst: int = 5) -> str:
    score = report["score"]
    lines = [
        f"# Evaluation of {_short(report['model'], 200)}",
        "",
        f"- task set: `{report['task_set']['sha256']}` (seed `{report['task_set']['seed']}`, "
        f"{report['task_set']['n']} tasks)",
        f"- score: **{score['mean']:.3f}** (CI {score['low']:.3f}–{score['high']:.3f}), "
        f"family weights {report['family_weights']}",
        f"- failures: {_short(report['errors'] or 'none', 400)}",
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
            lines += ["", f"Worst {min(worst, len(rows))}:", ""]
            lines += ["| task | category | score | why | output | expected |", "|---|---|---|---|---|---|"]
            for r in rows[:worst]:
                why = r.get("reason") or task_reason(r)
                output = r.get("tool_calls") or r.get("content") or ""
                expected = r.get("expected") or ""
                lines.append(
                    f"| {_short(r['id'], 40)} | {_short(r['category'], 40)} | {r['score']:.3f} | {_short(why, 300)} "
                    f"| {_short(output)} | {_short(expected)} |"
                )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], json_path: Path, markdown_path: Path | None = None, worst: int = 5) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if markdown_path is not None:
        markdown_path.write_text(markdown_summary(report, worst), encoding="utf-8")
