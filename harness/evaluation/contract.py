"""What the round asks of an evaluation, and what it gets back: the contract between `harness.round` (which
records) and `harness.evaluation` (which runs tasks).

It lives on the evaluation side so that the round depends on evaluation and never the other way round: the
sandbox stage, the Ray head's replay and a test's scripted stage all implement `EvaluateStage`, each taking one
`EvaluationRequest`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.feed.tasks import FeedTasks
from harness.models.prepare import PreparedModel


class Stopped(Exception):
    """The supervisor was asked to stop; the current step is checkpointed and the round resumes later."""


@dataclass(frozen=True)
class EvaluationOutcome:
    score: float
    details: dict[str, Any] = field(default_factory=dict)


TaskRecorder = Callable[[str, float, dict[str, Any] | None], None]


@dataclass(frozen=True)
class EvaluationRequest:
    """One model's evaluation as the round asks for it: every stage (the sandbox, the Ray head's replay, a test's
    script) takes the same things, so they travel as one value.

    `done` holds the results recorded before a restart (task id -> the recorded details plus `score`): they are
    kept as they are and not asked again. `deadline` is a `time.monotonic()` value; `stop` set means checkpoint
    and raise `Stopped`."""

    competition: str
    seed: str
    record: TaskRecorder
    deadline: float
    stop: threading.Event
    done: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    feed: FeedTasks | None = None
    """The epoch's task feed as the round read it at its start (None: no feed configured); the stage builds the
    task set from it, so a worker never reads the feed itself."""
    model: str = ""
    """The model's repository as committed, for progress logs only (`task.progress`); it never decides a score."""


class EvaluateStage(Protocol):
    """Runs one prepared model's task set in a sandbox; records each finished task through `request.record`."""

    def __call__(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome: ...
