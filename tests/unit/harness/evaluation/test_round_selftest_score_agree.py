"""One evaluation core: the same recorded outputs through the round's stage (with a restart in the middle),
`harness selftest` and `harness score` give identical numbers.

The engine is replayed from recorded responses (the recorded outputs are the point of the test); everything
between the engine and the numbers is the real code: the stage, the state store, the selftest report, the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.cli.app import main
from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationRequest, Stopped
from harness.evaluation.results import TaskResult
from harness.evaluation.run_loop import RunControl, TaskOutcome, run_tasks
from harness.evaluation.stage import SandboxEvaluateStage
from harness.evaluation.summary import summarise
from harness.evaluation.task_scoring import score_each
from harness.miner.selftest import evaluate_prepared
from harness.models.prepare import PreparedModel
from harness.sandbox.interface import Sandbox
from harness.settings.evaluation import EvaluationConfig
from harness.settings.root import Settings
from harness.state.store import Store
from harness.tasks.taskset import write_task_set
from scoring.config import ScoringConfig
from tests.support.bfcl_support import calls_from_truth

COMPETITION = "any2any"
SEED = "core-seed"


class EngineFailure(RuntimeError):
    def __init__(self, failure_class: str) -> None:
        super().__init__(failure_class)
        self.failure_class = failure_class


def _settings() -> Settings:
    return Settings(tasks={"toolcall_n": 6, "caption_n": 3}, evaluation={"concurrency": 2})


def _response(content: str | None, tool_calls: list | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "tool_calls": tool_calls}
    return {"choices": [{"message": message, "finish_reason": "stop"}], "usage": {"prompt_tokens": 7}}


def _recorded(task_set: dict) -> dict[str, dict[str, Any]]:
    """Per task one recorded output: right and wrong tool calls, an engine failure, good and bad captions."""
    out: dict[str, dict[str, Any]] = {}
    for index, task in enumerate(task_set["tasks"]):
        if task["family"] == "toolcall":
            calls = calls_from_truth(task["possible_answer"], 0)
            native = [
                {"type": "function", "function": {"name": n, "arguments": json.dumps(v)}}
                for c in calls
                for n, v in c.items()
            ]
            if index % 3 == 0:
                out[task["id"]] = {"task_id": task["id"], "response": _response(None, native or None)}
            elif index % 3 == 1:
                out[task["id"]] = {"task_id": task["id"], "response": _response("I cannot help with that.")}
            else:
                out[task["id"]] = {"task_id": task["id"], "error": "bad-response"}
        else:
            text = task["references"][0] if index % 2 else "a picture a picture a picture a picture"
            out[task["id"]] = {"task_id": task["id"], "response": _response(text)}
    return out


class ReplayEngine:
    def __init__(self, recorded: dict[str, dict[str, Any]], by_prompt: dict[str, str]) -> None:
        self.recorded = recorded
        self.by_prompt = by_prompt
        self.asked: list[str] = []

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        task_id = self.by_prompt[json.dumps(payload["messages"], sort_keys=True)]
        self.asked.append(task_id)
        await asyncio.sleep(0)
        line = self.recorded[task_id]
        if "error" in line:
            raise EngineFailure(line["error"])
        return line["response"]


class ReplaySandbox(Sandbox):
    def __init__(self, engine: ReplayEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def client(self, **_limits: Any) -> AsyncIterator[ReplayEngine]:
        yield self.engine

    def health(self) -> bool:
        return True

    def classify(self, exc: BaseException) -> StageFailure:
        return StageFailure("sandbox", "crashed", str(exc))


def _replay_stage(settings: Settings, recorded: dict[str, dict[str, Any]]) -> tuple[SandboxEvaluateStage, Any]:
    task_set = SandboxEvaluateStage(settings).task_set(COMPETITION, SEED).task_set
    by_prompt = {json.dumps(t["messages"], sort_keys=True): t["id"] for t in task_set["tasks"]}
    engine = ReplayEngine(recorded, by_prompt)

    @contextlib.contextmanager
    def opener(_prepared: PreparedModel, _competition: str) -> Iterator[ReplaySandbox]:
        yield ReplaySandbox(engine)

    return SandboxEvaluateStage(settings, open_sandbox=opener), engine


def _prepared() -> PreparedModel:
    return PreparedModel(model_dir=Path("/nonexistent"), identity="id", facts={"vision": True})


def _numbers(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "score": summary["score"],
        "families": {
            f: {k: v[k] for k in ("mean", "low", "high", "n", "errors")} for f, v in summary["families"].items()
        },
        "errors": summary["errors"],
    }


def _round_with_restart(settings: Settings, recorded: dict, tmp_path: Path) -> tuple[dict, dict[str, float]]:
    """The round's path: the stage records into the state store, is stopped after 4 tasks, and resumes from
    the recorded rows (as the supervisor does after a restart)."""
    store = Store(tmp_path / "state.sqlite")
    rnd = store.begin_round(1, "0x1")
    model = store.record_model(hotkey="hk", repo="o/n", revision="a" * 40, content_hash="c" * 64, commit_block=1)
    evaluation = store.start_evaluation(rnd.id, model.id, "id")
    stop = threading.Event()
    recorded_count = [0]

    def record(task_id: str, score: float, details: dict | None) -> None:
        store.record_task_result(evaluation.id, task_id, score, details)
        recorded_count[0] += 1
        if recorded_count[0] == 4:
            stop.set()

    stage, _engine = _replay_stage(settings, recorded)
    request = EvaluationRequest(COMPETITION, SEED, record=record, deadline=time.monotonic() + 60, stop=stop)
    with pytest.raises(Stopped):
        stage(_prepared(), request)
    rows = store.read.task_results(evaluation.id)
    assert 4 <= len(rows) < len(recorded)
    done = {task: {**(details or {}), "score": score} for task, (score, details) in rows.items()}
    resumed_stage, engine = _replay_stage(settings, recorded)
    outcome = resumed_stage(_prepared(), replace(request, done=done, stop=threading.Event()))
    assert not set(engine.asked) & set(done), "a task recorded before the restart was asked again"
    scores = {task: score for task, (score, _details) in store.read.task_results(evaluation.id).items()}
    return outcome.details, scores


def test_round_selftest_and_score_give_identical_numbers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = _settings()
    task_set = SandboxEvaluateStage(settings).task_set(COMPETITION, SEED).task_set
    recorded = _recorded(task_set)

    round_summary, round_scores = _round_with_restart(settings, recorded, tmp_path)

    stage, _engine = _replay_stage(settings, recorded)
    report = evaluate_prepared(_prepared(), settings, COMPETITION, SEED, "m", stage=stage)

    tasks_file, outputs = tmp_path / "tasks.json", tmp_path / "outputs.jsonl"
    write_task_set(task_set, tasks_file)
    outputs.write_text("".join(json.dumps(line) + "\n" for line in recorded.values()))
    capsys.readouterr()
    assert (
        main(["score", "--tasks", str(tasks_file), "--outputs", str(outputs), "--competition", COMPETITION, "--json"])
        == 0
    )
    offline = json.loads(capsys.readouterr().out)

    assert _numbers(round_summary) == _numbers(report) == _numbers(offline)
    assert round_summary["task_set_sha256"] == report["task_set"]["sha256"] == offline["task_set"]["sha256"]
    per_task = {r["id"]: r["score"] for r in offline["tasks"]}
    assert round_scores == per_task == {r["id"]: r["score"] for r in report["tasks"]}
    # the recorded outputs are not all alike: the comparison covers passes, fails, failures and captions
    assert 0.0 < round_summary["score"]["mean"] < 1.0
    assert round_summary["errors"] == {"bad-response": 2}
    assert 0.0 < round_summary["families"]["caption"]["mean"] < 1.0


def test_a_caption_score_does_not_depend_on_the_other_tasks_scored_with_it() -> None:
    settings = _settings()
    task_set = SandboxEvaluateStage(settings).task_set(COMPETITION, SEED).task_set
    captions = [t for t in task_set["tasks"] if t["family"] == "caption"]
    outcomes = [TaskOutcome(task_id=t["id"], content="a small object " * (i + 1)) for i, t in enumerate(captions)]
    together = score_each(captions, outcomes, ScoringConfig())
    alone = [score_each([t], [o], ScoringConfig())[0] for t, o in zip(captions, outcomes, strict=True)]
    reversed_order = score_each(captions[::-1], outcomes[::-1], ScoringConfig())[::-1]
    assert [r.score for r in together] == [r.score for r in alone] == [r.score for r in reversed_order]


def test_summary_counts_every_task_of_the_set_and_missing_ones_as_zero() -> None:
    tasks = [
        {"id": "a", "family": "toolcall", "category": "simple"},
        {"id": "b", "family": "toolcall", "category": "simple"},
        {"id": "c", "family": "caption", "category": "caption"},
    ]
    # a result for a task outside the set is ignored; a result's own family claim is not trusted
    results = [
        TaskResult("a", "toolcall", "simple", 1.0, TaskOutcome("a")),
        TaskResult("zz", "toolcall", "simple", 1.0, TaskOutcome("zz")),
        TaskResult("c", "toolcall", "simple", 1.0, TaskOutcome("c")),
    ]
    summary = summarise(tasks, results, {"toolcall": 1.0}, 0.95).to_dict()
    assert summary["score"]["mean"] == pytest.approx(0.5)
    assert summary["families"]["toolcall"]["errors"] == 1 and summary["errors"] == {"missing-output": 1}
    assert summary["tasks"] == 3
    uniform = summarise(
        tasks, results, {"toolcall": 0.0}, 0.95
    ).to_dict()  # no positive weight: families weigh the same
    assert uniform["score"]["mean"] == pytest.approx((0.5 + 1.0) / 2)


class SlowEngine:
    def __init__(self) -> None:
        self.asked = 0

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.asked += 1
        await asyncio.sleep(0.01)
        return _response("ok")


def test_run_loop_deadline_and_stop() -> None:
    tasks = [{"id": f"t{i}", "family": "caption", "messages": [{"role": "user", "content": str(i)}]} for i in range(6)]
    config = EvaluationConfig(concurrency=1)
    past = RunControl(deadline=time.monotonic() - 1)
    late = asyncio.run(run_tasks(SlowEngine(), tasks, model="m", config=config, control=past))
    assert late.over_budget and {o.error for o in late.outcomes.values()} == {"time-budget"}

    control = RunControl()
    seen: list[str] = []

    def on_outcome(task: dict, _outcome: dict) -> None:
        seen.append(task["id"])
        if len(seen) == 2:
            control.stop.set()

    engine = SlowEngine()
    stopped = asyncio.run(run_tasks(engine, tasks, model="m", config=config, on_outcome=on_outcome, control=control))
    assert stopped.stopped and seen == ["t0", "t1"] and set(stopped.outcomes) == {"t0", "t1"}
    assert engine.asked == 2


class OneAtATimeEngine:
    """Like the CPU engine's client: takes one request at a time and queues the rest inside itself."""

    max_concurrency = 1

    def __init__(self, answer_s: float) -> None:
        self.answer_s = answer_s
        self._one = asyncio.Semaphore(1)

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        async with self._one:
            await asyncio.sleep(self.answer_s)
            return {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


def test_a_task_waiting_its_turn_in_the_engine_does_not_time_out() -> None:
    """Eight tasks that each take 0.2 s on an engine that answers one at a time, with a 1 s deadline per task:
    every one is answered. (Queued inside the client, the last ones timed out after waiting for the others, and
    which tasks failed depended on their order, not on the model.)"""
    tasks = [{"id": f"t{i}", "family": "caption", "messages": [{"role": "user", "content": str(i)}]} for i in range(8)]
    config = EvaluationConfig(concurrency=8, request_timeout_s=1.0)
    result = asyncio.run(run_tasks(OneAtATimeEngine(0.2), tasks, model="m", config=config))
    assert len(result.outcomes) == 8
    assert [o for o in result.outcomes.values() if o.error] == []


def test_selftest_report_keeps_each_raw_response_and_parsed_calls() -> None:
    """The miner sees what the model answered: the selftest report holds every task's raw response and, for
    tool calls, the calls parsed from it; its score is the stage's own summary, not a recomputation."""
    settings = _settings()
    task_set = SandboxEvaluateStage(settings).task_set(COMPETITION, SEED).task_set
    recorded = _recorded(task_set)
    stage, _engine = _replay_stage(settings, recorded)
    report = evaluate_prepared(_prepared(), settings, COMPETITION, SEED, "m", stage=stage)

    round_stage, _engine = _replay_stage(settings, recorded)
    request = EvaluationRequest(
        COMPETITION, SEED, record=lambda *_row: None, deadline=time.monotonic() + 60, stop=threading.Event()
    )
    outcome = round_stage(_prepared(), request)
    assert report["score"] == outcome.details["score"] and report["families"] == outcome.details["families"]

    rows = {r["id"]: r for r in report["tasks"]}
    assert list(rows) == [t["id"] for t in task_set["tasks"]]
    native_calls = 0
    for task in task_set["tasks"]:
        row, line = rows[task["id"]], recorded[task["id"]]
        if "error" in line:
            assert row["error"] == line["error"] and row["response"] is None
            continue
        assert row["response"] == line["response"]
        assert row["content"] == line["response"]["choices"][0]["message"]["content"]
        if task["family"] == "toolcall":
            assert "calls" in row and "parsed_format" in row
            tool_calls = line["response"]["choices"][0]["message"]["tool_calls"]
            assert row["tool_calls"] == tool_calls
            if tool_calls:
                assert [name for call in row["calls"] for name in call] == [c["function"]["name"] for c in tool_calls]
                native_calls += 1
    assert native_calls > 0, "the recorded outputs hold native tool calls to check"
