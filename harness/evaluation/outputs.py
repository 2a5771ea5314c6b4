"""Recorded outputs (what `harness score` re-scores offline), JSONL, one object a line, one line per task:

    {"task_id": "tc-0003", "response": {...raw /v1/chat/completions response...}}
    {"task_id": "tc-0004", "message": {"content": "[f(a=1)]", "tool_calls": null}}
    {"task_id": "cap-0001", "content": "two red circles"}
    {"task_id": "tc-0005", "error": "request-timeout"}

`latency_s` may be added to any line. Each line becomes the `TaskOutcome` the run loop would have produced.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.evaluation.run_loop import TaskOutcome, failure_outcome, outcome_from_response
from harness.tasks.jsonl import read_objects


def read_outputs(path: Path) -> list[TaskOutcome]:
    """Outcomes from an outputs file; a malformed line is a one-line error naming it."""
    outcomes = []
    for number, row in read_objects(path, "outputs file"):
        if not isinstance(row.get("task_id"), str):
            raise HarnessError(f"{path}:{number}: needs a 'task_id' string")
        latency = row.get("latency_s")
        if row.get("error"):
            outcomes.append(
                failure_outcome(row["task_id"], str(row["error"]), str(row.get("error_message", "")), latency)
            )
        elif "response" in row:
            outcomes.append(outcome_from_response(row["task_id"], row["response"], latency))
        elif isinstance(row.get("message"), dict) or "content" in row:
            message = row.get("message") or {"content": row.get("content"), "tool_calls": row.get("tool_calls")}
            outcomes.append(outcome_from_response(row["task_id"], {"choices": [{"message": message}]}, latency))
        else:
            raise HarnessError(f"{path}:{number}: needs 'response', 'message', 'content' or 'error'")
    return outcomes
