"""The round's sandbox stage: one prepared model, its competition's seeded task set, a sandbox, per-task records.

The stage is a thin shell around the pipeline (`harness.evaluation.pipeline.evaluate_task_set`): it opens the
sandbox (through `harness.sandbox.interface`, so a test can hand it a fake), gives the pipeline the sandbox's
client, and records each task's result the moment it is scored, so a stopped or crashed supervisor resumes with
the tasks still missing; the round's task set is rebuilt from the same seed, so the resumed tasks are the same
bytes. A sandbox that dies (crash, OOM) ends the model's evaluation with that failure class; tasks not started
before the model's time budget runs out score 0. `harness selftest` runs the same stage through `evaluate`,
keeping every task's full result where the round stores the compact form.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest, Stopped
from harness.evaluation.pipeline import EvaluatedTaskSet, ResultCallback, evaluate_task_set
from harness.evaluation.results import TaskResult, compact_result
from harness.evaluation.run_loop import RunControl
from harness.evaluation.task_scoring import select_tasks
from harness.feed.tasks import FeedTasks
from harness.metrics.progress import TaskProgress
from harness.models.prepare import PreparedModel
from harness.sandbox.interface import ChatEngine, Sandbox, SandboxError, SandboxStart
from harness.sandbox.pool import current_overrides
from harness.sandbox.runtime import run_sandbox
from harness.sandbox.spec import SandboxSpec
from harness.settings.root import Settings
from harness.tasks.build import build_for_competition

ENGINE_MODEL_NAME = "/model"
_DEAD_ENGINE = {"crashed", "oom"}

SandboxOpener = Callable[[PreparedModel, str], SandboxStart]
"""(prepared model, competition) -> the started sandbox, stopped when the `with` block ends."""


@dataclass(frozen=True)
class CompetitionTaskSet:
    """A competition's task set for one seed, with the family weights its score uses."""

    competition: str
    task_set: dict[str, Any]
    family_weights: Mapping[str, float]


def feed_identity(feed: FeedTasks | None) -> str | None:
    """What a feed contributes to a task set, as a digest: its epoch, batch hash, entries and failure class."""
    if feed is None:
        return None
    record = {**feed.task_set_record(), "entries": list(feed.entries)}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=repr)  # repr: never fails on a value
    return hashlib.sha256(text.encode()).hexdigest()


class TaskSetCache:
    """The last few task sets built, by (competition, seed, feed identity); bounded, thread-safe.

    Why: building a set draws its caption images (decoded, checked, base64-encoded), and a round evaluates many
    models of one competition with one seed; building per model made memory and time scale with the models. A
    round needs one entry per competition; `size` keeps a few rounds' worth and drops the oldest. A set is
    shared, read-only, by the models that use it (nothing downstream writes into tasks)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.builds = 0
        self._entries: OrderedDict[tuple[str, str, str | None], CompetitionTaskSet] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str | None], build: Callable[[], CompetitionTaskSet]) -> CompetitionTaskSet:
        with self._lock:  # held while building: two slots asking at once build the set once
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            value = build()
            self.builds += 1
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return value


@contextlib.contextmanager
def open_docker_sandbox(settings: Settings, prepared: PreparedModel, competition: str) -> Iterator[Sandbox]:
    # In a pool, the slot this thread holds pins the sandbox to its GPU or cores.
    spec = SandboxSpec.from_settings(settings.sandbox, competition=competition, **current_overrides())
    try:
        with run_sandbox(spec, prepared.model_dir) as sandbox:
            yield sandbox
    except SandboxError as exc:
        raise StageFailure("sandbox", exc.failure_class, str(exc), details={"logs": exc.logs[-4000:]}) from None


class SandboxEvaluateStage:
    """Runs a model's tasks in a sandbox built from settings (`sandbox.engine`: cpu or sglang)."""

    def __init__(self, settings: Settings, open_sandbox: SandboxOpener | None = None) -> None:
        self.settings = settings
        self._task_sets = TaskSetCache()
        self.open_sandbox = open_sandbox or (
            lambda prepared, competition: open_docker_sandbox(settings, prepared, competition)
        )

    def task_set(self, competition: str, seed: str, feed: FeedTasks | None = None) -> CompetitionTaskSet:
        """The one place a competition's task set is built (the round, selftest and the tests go through it);
        `feed` is the epoch's task feed as the round read it (`harness.feed`). Built once per round, not once
        per model: the set is a pure function of (settings, competition, seed, feed), so every model of the round
        gets the same one from `_task_sets`."""
        config = self.settings.competitions.get(competition)
        if config is None:
            raise StageFailure("evaluate", "unknown-competition", f"no competition named {competition!r}")
        return self._task_sets.get(
            (competition, seed, feed_identity(feed)),
            lambda: CompetitionTaskSet(
                competition, build_for_competition(seed, config.families, self.settings.tasks, feed), config.families
            ),
        )

    def __call__(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        """The round's stage (`harness.evaluation.contract.EvaluateStage`): each result recorded compact."""

        tasks = self.task_set(request.competition, request.seed, request.feed)
        total = len(tasks.task_set["tasks"])
        # `task.progress` log lines at a steady pace (harness/metrics/progress.py): which model, tasks done of total
        with TaskProgress(request.model or prepared.model_dir.name, total, len(request.done)) as progress:

            def on_result(result: TaskResult) -> None:
                request.record(result.id, float(result.score), compact_result(result))
                progress.task_done()

            evaluated = self.evaluate(
                prepared, tasks, done=request.done, on_result=on_result, deadline=request.deadline, stop=request.stop
            )
        if evaluated.stopped:
            raise Stopped()
        details = evaluated.summary.to_dict()
        details.update(competition=request.competition, budget_exceeded=evaluated.over_budget)
        return EvaluationOutcome(score=float(evaluated.summary.score.mean), details=details)

    def evaluate(
        self,
        prepared: PreparedModel,
        tasks: CompetitionTaskSet,
        *,
        on_result: ResultCallback,
        deadline: float,
        stop: threading.Event,
        done: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> EvaluatedTaskSet:
        """The model's task set in a sandbox (none starts when every task an engine would get is in `done`);
        `on_result` gets each task's full result. A dead engine raises the sandbox's classified failure."""
        done = done or {}
        vision = bool(prepared.facts.get("vision"))
        sent, _withheld = select_tasks(tasks.task_set["tasks"], vision)
        needs_engine = any(task["id"] not in done for task in sent)

        async def run(engine: ChatEngine, engine_dead: Callable[[BaseException], bool]) -> EvaluatedTaskSet:
            return await evaluate_task_set(
                engine,
                tasks.task_set,
                model=ENGINE_MODEL_NAME,
                family_weights=tasks.family_weights,
                evaluation=self.settings.evaluation,
                scoring=self.settings.scoring,
                vision=vision,
                done=done,
                on_result=on_result,
                control=RunControl(deadline=deadline, stop=stop, engine_dead=engine_dead),
            )

        async def in_sandbox(sandbox: Sandbox) -> EvaluatedTaskSet:
            def engine_dead(exc: BaseException) -> bool:
                return getattr(exc, "failure_class", None) in _DEAD_ENGINE or not sandbox.health()

            async with sandbox.client(request_timeout=self.settings.evaluation.request_timeout_s) as client:
                return await run(client, engine_dead)

        if not needs_engine:  # resumed with every engine task recorded: no sandbox starts
            return asyncio.run(run(_NoEngine(), lambda _exc: True))
        with self.open_sandbox(prepared, tasks.competition) as sandbox:
            evaluated = asyncio.run(in_sandbox(sandbox))
            if isinstance(evaluated.dead, StageFailure):
                raise evaluated.dead  # the run's own verdict (evaluate/template-timeout), not the sandbox's
            if evaluated.dead is not None:
                raise sandbox.classify(evaluated.dead)  # the opener turns it into the stage's failure
        return evaluated


class _NoEngine:
    """Stands in when every task the engine would get is already recorded: nothing is sent, no sandbox starts."""

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no task needs the engine")
