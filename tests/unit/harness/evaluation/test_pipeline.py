"""The evaluation loop against a scripted engine: concurrency bound, timeouts, failures, scoring, report files."""

from __future__ import annotations

import asyncio
import json

from harness.evaluation.pipeline import evaluate
from harness.evaluation.report import markdown_summary, write_report
from harness.sandbox.interface import ChatEngine
from harness.settings.evaluation import EvaluationConfig
from harness.tasks import build_family, sha256_of
from harness.tasks.config import TasksConfig
from harness.tasks.taskset import merge_task_sets
from scoring.config import ScoringConfig
from tests.support.bfcl_support import calls_from_truth


class Failure(RuntimeError):
    def __init__(self, failure_class: str) -> None:
        super().__init__(failure_class)
        self.failure_class = failure_class


def _python(calls: list[dict]) -> str:
    return (
        "["
        + ", ".join(f"{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for c in calls for n, a in c.items())
        + "]"
    )


class ScriptedEngine:
    """Answers from a script keyed by the user's text; tracks how many requests are in flight."""

    def __init__(self, script: dict[str, object], delay: float = 0.01) -> None:
        self.script = script
        self.delay = delay
        self.in_flight = 0
        self.peak = 0
        self.payloads: list[dict] = []

    async def chat_completion(self, payload: dict) -> dict:
        self.payloads.append(payload)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            key = json.dumps(payload["messages"][-1]["content"])
            action = self.script.get(key, "I do not know.")
            if action == "hang":
                await asyncio.sleep(10)
            await asyncio.sleep(self.delay)
            if isinstance(action, Exception):
                raise action
            if action == "garbage":
                return {"unexpected": True}
            return {
                "choices": [{"message": {"role": "assistant", "content": action}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            }
        finally:
            self.in_flight -= 1


def _setup():
    toolcall = build_family("eval", "toolcall", 12, TasksConfig(toolcall_categories={"simple": 1.0}, bfcl_fraction=0))
    caption = build_family("eval", "caption", 2, TasksConfig(image_size=64))
    task_set = merge_task_sets("eval", [toolcall, caption])
    tasks = task_set["tasks"]
    key = lambda t: json.dumps(t["messages"][-1]["content"])  # noqa: E731
    script: dict[str, object] = {key(t): _python(calls_from_truth(t["possible_answer"], 0)) for t in tasks[:6]}
    script[key(tasks[6])] = "hang"
    script[key(tasks[7])] = Failure("crashed")
    script[key(tasks[8])] = "garbage"
    script[key(tasks[9])] = ValueError("boom")
    script[key(tasks[12])] = tasks[12]["references"][0]
    script[key(tasks[13])] = ""
    return task_set, script


def test_evaluation_bounds_concurrency_and_records_everything(tmp_path) -> None:
    task_set, script = _setup()
    engine = ScriptedEngine(script)
    assert isinstance(engine, ChatEngine)
    config = EvaluationConfig(concurrency=3, request_timeout_s=0.5, max_tokens=77)
    report = asyncio.run(
        evaluate(
            engine,
            task_set,
            model="m",
            family_weights={"toolcall": 0.5, "caption": 0.5},
            evaluation=config,
            vision=True,
        )
    )
    assert engine.peak == 3
    assert all(p["max_tokens"] == 77 and p["temperature"] == 0.0 and p["model"] == "m" for p in engine.payloads)
    assert all(("tools" in p) == (p["messages"][0]["role"] == "system") for p in engine.payloads)
    by_id = {r["id"]: r for r in report["tasks"]}
    ids = [t["id"] for t in task_set["tasks"]]
    assert all(by_id[i]["score"] == 1.0 and by_id[i]["valid"] for i in ids[:6])
    assert by_id[ids[6]]["error"] == "request-timeout"
    assert by_id[ids[7]]["error"] == "crashed"
    assert by_id[ids[8]]["error"] == "bad-response"
    assert by_id[ids[9]]["error"] == "engine-error" and "boom" in by_id[ids[9]]["error_message"]
    assert by_id[ids[10]]["error_type"] == "ast_decoder:decoder_failed"
    assert by_id[ids[12]]["score"] > 0.8 and by_id[ids[13]]["flags"] == ["empty"]
    assert report["errors"] == {"request-timeout": 1, "crashed": 1, "bad-response": 1, "engine-error": 1}
    assert report["task_set"]["sha256"] == sha256_of(task_set)
    assert report["families"]["toolcall"]["n"] == 12 and report["families"]["toolcall"]["mean"] == 0.5
    expected = 0.5 * 0.5 + 0.5 * report["families"]["caption"]["mean"]
    assert abs(report["score"]["mean"] - expected) < 1e-9
    assert report["tokens"]["completion"] == 5 * 10  # 14 tasks, 4 failed
    assert all(r["latency_s"] is not None for r in report["tasks"])
    write_report(report, tmp_path / "r.json", tmp_path / "r.md")
    assert json.loads((tmp_path / "r.json").read_text())["task_set"]["sha256"] == sha256_of(task_set)
    summary = (tmp_path / "r.md").read_text()
    assert "## toolcall" in summary and "## caption" in summary and "request-timeout" in summary


def test_partial_scoring_setting_and_withheld_captions() -> None:
    task_set, script = _setup()
    report = asyncio.run(
        evaluate(
            ScriptedEngine(script),
            task_set,
            model="m",
            family_weights={"toolcall": 1.0},
            evaluation=EvaluationConfig(concurrency=8, request_timeout_s=0.3),
            scoring=ScoringConfig(toolcall_score="partial"),
            vision=False,
        )
    )
    assert report["errors"]["not-vision-capable"] == 2
    assert all(r["score"] == 0 for r in report["tasks"] if r["family"] == "caption")
    assert report["tasks_per_s"] > 0
    assert "Worst" in markdown_summary(report)
