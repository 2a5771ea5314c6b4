"""A task's result: its outcome, its score and the fields its family's scorer explains the score with.

One type serves the three places a result comes from: scored the moment the task finished, restored from the
compact record the state store kept (a resumed round), or missing (nothing recorded: it counts 0). Its
`to_dict` is the task row of a report, key for key as reports have always been written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.evaluation.run_loop import TaskOutcome

MISSING = "missing-output"

_COMPACT_KEYS = (
    "family",
    "category",
    "error",
    "latency_s",
    "valid",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
)


@dataclass
class TaskResult:
    id: str
    family: str
    category: str | None
    score: float = 0.0
    outcome: TaskOutcome | None = None
    """None: nothing was recorded for the task."""
    details: dict[str, Any] = field(default_factory=dict)
    """The family scorer's fields beyond `score` (a tool call's verdict and parsed calls, a caption's flags)."""

    @property
    def error(self) -> str | None:
        return self.outcome.error if self.outcome is not None else MISSING

    @property
    def latency_s(self) -> float | None:
        return self.outcome.latency_s if self.outcome is not None else None

    @property
    def prompt_tokens(self) -> int | None:
        return self.outcome.prompt_tokens if self.outcome is not None else None

    @property
    def completion_tokens(self) -> int | None:
        return self.outcome.completion_tokens if self.outcome is not None else None

    @classmethod
    def missing(cls, task: Mapping[str, Any]) -> TaskResult:
        """The result of a task nothing was recorded for: it counts 0."""
        return cls(id=task["id"], family=task["family"], category=task.get("category"))

    @classmethod
    def restored(cls, task: Mapping[str, Any], row: Mapping[str, Any]) -> TaskResult:
        """A result recorded before a restart (`compact_result` plus `score`): enough to summarise it."""
        outcome = TaskOutcome(
            task_id=task["id"],
            content=row.get("content"),
            latency_s=row.get("latency_s"),
            prompt_tokens=row.get("prompt_tokens"),
            completion_tokens=row.get("completion_tokens"),
            error=row.get("error"),
            tool_calls=row.get("tool_calls"),
            finish_reason=row.get("finish_reason"),
        )
        details = {key: row[key] for key in ("valid", "error_type") if key in row}
        return cls(task["id"], task["family"], task.get("category"), float(row["score"]), outcome, details)

    def to_dict(self) -> dict[str, Any]:
        if self.outcome is None:
            return {
                "id": self.id,
                "family": self.family,
                "category": self.category,
                "score": self.score,
                "error": MISSING,
            }
        row = {"id": self.id, "family": self.family, "category": self.category, **self.outcome.fields()}
        return {**row, "score": self.score, **self.details}


def compact_result(result: TaskResult, content_limit: int = 2000) -> dict[str, Any]:
    """What the state store keeps of a task's result: enough to summarise and explain it, without the raw
    response (the summariser reads only these fields)."""
    row = result.to_dict()
    details = {key: row.get(key) for key in _COMPACT_KEYS}
    content = row.get("content")
    details["content"] = content[:content_limit] if isinstance(content, str) else None
    # A native tool call is the answer of a tool-call task: kept (bounded like the text) so that reports and the
    # results page can show what the model called, not "no answer".
    calls = row.get("tool_calls")
    if calls is not None:
        encoded = json.dumps(calls, default=str)
        details["tool_calls"] = calls if len(encoded) <= content_limit else encoded[:content_limit]
    return details


def results_in_task_order(tasks: Sequence[Mapping[str, Any]], results: Iterable[TaskResult]) -> list[TaskResult]:
    """One result per task of the set, in the set's order; a task without a result gets `TaskResult.missing`."""
    by_id = {r.id: r for r in results}
    return [by_id.get(t["id"]) or TaskResult.missing(t) for t in tasks]
