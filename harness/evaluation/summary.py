"""The summariser: one competition score over a whole task set, with per-family estimates, per-category means,
failure counts, latency and tokens.

Every task of the set counts, and a task without a result counts 0, so a model cannot raise its score by
leaving out hard tasks. The round stores `Summary.to_dict()` as JSON and reports repeat it, so its key order
is part of what two validators compare.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.evaluation.results import TaskResult, results_in_task_order
from scoring.aggregate import Estimate, combine, family_estimate


@dataclass(frozen=True)
class CategoryMean:
    mean: float
    n: int


@dataclass(frozen=True)
class FamilySummary:
    estimate: Estimate
    errors: int
    categories: dict[str, CategoryMean]

    @property
    def mean(self) -> float:
        return self.estimate.mean

    def to_dict(self) -> dict[str, Any]:
        categories = {name: vars(c).copy() for name, c in self.categories.items()}
        return {**vars(self.estimate), "errors": self.errors, "categories": categories}


@dataclass(frozen=True)
class Summary:
    score: Estimate
    family_weights: dict[str, float]
    families: dict[str, FamilySummary]
    errors: dict[str, int]
    latency_p50: float | None
    latency_p95: float | None
    prompt_tokens: int
    completion_tokens: int
    tasks: int
    task_set_sha256: str | None = None

    def with_task_set(self, sha256: str) -> Summary:
        return replace(self, task_set_sha256=sha256)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "score": vars(self.score).copy(),
            "family_weights": dict(self.family_weights),
            "families": {name: f.to_dict() for name, f in self.families.items()},
            "errors": dict(self.errors),
            "latency_s": {"p50": self.latency_p50, "p95": self.latency_p95},
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "tasks": self.tasks,
        }
        if self.task_set_sha256 is not None:
            out["task_set_sha256"] = self.task_set_sha256
        return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(
    tasks: Sequence[Mapping[str, Any]],
    results: Iterable[TaskResult],
    family_weights: Mapping[str, float],
    level: float = 0.95,
) -> Summary:
    """The competition score over the whole task set. Family and category come from the task, never from the
    result. Family weights: the positive ones; none positive means every family of the set weighs the same."""
    rows = results_in_task_order(tasks, results)
    grouped: dict[str, list[tuple[Mapping[str, Any], TaskResult]]] = defaultdict(list)
    for task, row in zip(tasks, rows, strict=True):
        grouped[task["family"]].append((task, row))
    families: dict[str, FamilySummary] = {}
    for family, pairs in sorted(grouped.items()):
        categories: dict[str, list[float]] = defaultdict(list)
        for task, row in pairs:
            categories[str(task.get("category"))].append(float(row.score))
        families[family] = FamilySummary(
            estimate=family_estimate([float(row.score) for _task, row in pairs], level),
            errors=sum(1 for _task, row in pairs if row.error),
            categories={c: CategoryMean(statistics.fmean(v), len(v)) for c, v in sorted(categories.items())},
        )
    estimates = {name: f.estimate for name, f in families.items()}
    weights = {f: float(w) for f, w in family_weights.items() if w > 0} or {f: 1.0 for f in estimates}
    latencies = [r.latency_s for r in rows if isinstance(r.latency_s, int | float)]
    return Summary(
        score=combine(estimates, weights) if weights else Estimate(0.0, 0.0, 0.0, 0),
        family_weights=weights,
        families=families,
        errors=dict(Counter(str(r.error) for r in rows if r.error)),
        latency_p50=_percentile(latencies, 0.5),
        latency_p95=_percentile(latencies, 0.95),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in rows),
        completion_tokens=sum(r.completion_tokens or 0 for r in rows),
        tasks=len(rows),
    )
