"""Why a task, a family or a model scored what it did, in words a miner can act on.

A score of 0.000 with no reason is the most common question a subnet's miners ask. Every task row a report shows
(a round's stored task results, a selftest's full results) goes through `task_reason`, which turns the recorded
failure class, the tool-call checker's error type, the caption scorer's flags and the token usage into one
sentence saying what went wrong and what to change. Pure functions over plain dicts: the text, Markdown and JSON
views and the selftest all call them, so they cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

WITHHELD = {
    "not-vision-capable": "withheld: the model has no image input (no vision tower in its config); caption tasks "
    "need a vision-language model, so a text-only model scores 0 on every caption",
    "time-budget": "withheld: the model's time budget (supervisor.model_time_budget_s) ran out before this task; "
    "answer faster (shorter answers, a smaller or quantised model)",
    "missing-output": "no answer recorded: the evaluation stopped before this task (budget, crash or shutdown)",
}
"""Failure classes of tasks the model was never asked (or never answered): withheld tasks and why."""

FAILURES = {
    "request-timeout": "no answer within evaluation.request_timeout_s: the engine was too slow for this prompt",
    "engine-error": "the engine failed on this request (see the evaluation's failure for the engine's message)",
    "bad-response": "the engine's answer had no message (choices[0].message missing)",
    "engine-dead": "the engine died during the run (out of memory, crash)",
}

TOOLCALL = {
    "ast_decoder:decoder_failed": "the answer holds no function call the checker can parse: answer with only the "
    "call, as the OpenAI `tool_calls` field or `[func(arg=value)]`, using the offered function names",
    "ast_decoder:decoder_wrong_output_format": "the call is not in the expected format: a list of calls, "
    "`[func(arg=value)]`, or `tool_calls`",
    "simple_function_checker:wrong_func_name": "called the wrong function: pick the offered function the question "
    "asks for",
    "simple_function_checker:missing_required": "a required parameter is missing from the call",
    "simple_function_checker:unexpected_param": "the call has a parameter the function does not define",
    "simple_function_checker:wrong_count": "wrong number of calls: this task wants exactly one",
    "multiple_function_checker:wrong_count": "wrong number of calls for this task",
    "parallel_function_checker_no_order:wrong_count": "wrong number of parallel calls",
    "parallel_function_checker_no_order:cannot_find_match": "one of the parallel calls matches no expected call",
    "irrelevance_error:decoder_success": "called a function although none of the offered ones fits: answer in words",
    "relevance_error:decoder_failed": "answered in words although an offered function fits: call it",
}
TOOLCALL_PREFIXES = {
    "value_error": "a parameter has the wrong value: compare with the expected call",
    "type_error": "a parameter has the wrong type (string vs number, list vs value)",
    "simple_function_checker": "the call does not match the expected one",
}

CAPTION_FLAGS = {
    "empty": "empty answer: a caption must describe the image",
    "too-long": "longer than scoring.caption_max_words: keep captions short",
    "repetitive": "repeats itself: the answer loops (stop at the first sentence)",
    "echo": "mostly repeats the prompt's words instead of describing the image",
    "word-list": "a list of colour/shape words, not a description: bind each colour to its shape",
    "no-references": "the task has no reference to compare with",
}


def truncated(row: Mapping[str, Any], max_tokens: int | None) -> bool:
    """The answer stopped at the token cap: the engine said `finish_reason: length`, or (for a stored result,
    which keeps no finish reason) the completion used every token of the cap."""
    if row.get("finish_reason") == "length":
        return True
    tokens = row.get("completion_tokens")
    return bool(max_tokens) and isinstance(tokens, int) and tokens >= int(max_tokens)  # type: ignore[arg-type]


def task_reason(row: Mapping[str, Any], max_tokens: int | None = None) -> str:
    """One sentence: why this task scored what it did ("" for a full score with nothing to say)."""
    error = row.get("error")
    score = float(row.get("score") or 0.0)
    parts: list[str] = []
    if error:
        parts.append(WITHHELD.get(str(error)) or FAILURES.get(str(error)) or f"failed: {error}")
    else:
        error_type = row.get("error_type")
        if error_type:
            text = TOOLCALL.get(str(error_type))
            if text is None:
                prefix = str(error_type).split(":", 1)[0]
                text = TOOLCALL_PREFIXES.get(prefix, "the call does not match the expected one")
            parts.append(f"{text} [{error_type}]")
        flags = [str(f) for f in row.get("flags") or []]
        parts += [CAPTION_FLAGS.get(f, f) for f in flags]
        facts = row.get("facts")
        if isinstance(facts, Mapping):
            parts.append(facts_text(facts))
        elif row.get("family") == "caption" and score < 0.5 and not flags:
            parts.append("few of the scene's facts (colours, shapes, counts, background) stated right")
        if row.get("family") == "toolcall" and score <= 0 and not error_type:
            parts.append("the call did not match the expected one")
    if truncated(row, max_tokens):
        cap = f" ({max_tokens} tokens)" if max_tokens else ""
        parts.append(f"cut at the token cap{cap}: the answer ran out of tokens before it ended")
    if not parts and score <= 0:
        parts.append("scored 0 without a recorded reason")
    return "; ".join(parts)


def facts_text(facts: Mapping[str, Any]) -> str:
    """A caption's fact check (facts asserted, right, wrong, missed), as the scorer recorded it."""
    keys = [k for k in ("asserted", "right", "wrong", "missed") if k in facts]
    shown = []
    for key in keys:
        value = facts[key]
        count = len(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
        shown.append(f"{key} {count}")
    return "facts: " + ", ".join(shown) if shown else "facts checked"


def lost_points_notes(evaluation: Mapping[str, Any], max_tokens: int | None) -> list[str]:
    """What a report says beside an evaluation's "why it lost points" title: withheld tasks and answers cut at the
    token cap (one wording for the terminal and the Markdown report)."""
    notes = []
    if evaluation.get("withheld"):
        notes.append("withheld: " + ", ".join(f"{k} {v}" for k, v in evaluation["withheld"].items()))
    if evaluation.get("truncated"):
        notes.append(f"{evaluation['truncated']} answers cut at the token cap ({max_tokens})")
    return notes


def withheld_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Tasks never asked or never answered, by failure class."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.get("error") in WITHHELD:
            counts[str(row["error"])] = counts.get(str(row["error"]), 0) + 1
    return dict(sorted(counts.items()))


def reason_groups(rows: Sequence[Mapping[str, Any]], max_tokens: int | None = None) -> list[dict[str, Any]]:
    """Tasks that lost points, grouped by family and reason (most tasks first): each group's count, mean score
    and one example task with its answer, so 24 identical zeros read as one line with its cause."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if float(row.get("score") or 0.0) >= 1.0:
            continue
        reason = task_reason(row, max_tokens) or "partly right"
        groups.setdefault((str(row.get("family")), reason), []).append(row)
    out = []
    for (family, reason), members in groups.items():
        example = min(members, key=lambda r: (float(r.get("score") or 0.0), str(r.get("id"))))
        out.append(
            {
                "family": family,
                "reason": reason,
                "tasks": len(members),
                "mean": sum(float(r.get("score") or 0.0) for r in members) / len(members),
                "example": {
                    "id": example.get("id"),
                    "score": example.get("score"),
                    "answer": answer_text(example),
                    "expected": _text(example.get("expected")),
                },
            }
        )
    return sorted(out, key=lambda g: (-g["tasks"], g["family"], g["reason"]))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def answer_text(row: Mapping[str, Any]) -> str:
    """What the model answered: its tool calls when it made any, else its text ("" when none)."""
    calls = row.get("tool_calls") or row.get("calls")
    if calls:
        return _text(calls)
    content = row.get("content")
    return content if isinstance(content, str) else ""


def family_zero_reason(family: str, rows: Sequence[Mapping[str, Any]], max_tokens: int | None = None) -> str:
    """Why a whole family scored 0: its most common task reason."""
    mine = [r for r in rows if r.get("family") == family]
    groups = reason_groups(mine, max_tokens)
    if not groups:
        return "no tasks of this family were recorded" if not mine else ""
    top = groups[0]
    return f"{top['tasks']}/{len(mine)} tasks: {top['reason']}"


def expected_of(task: Mapping[str, Any]) -> Any:
    """What a task expected, to show beside a wrong answer: a tool call's accepted calls, a caption's facts."""
    if task.get("family") == "toolcall":
        return task.get("possible_answer")
    if task.get("family") == "caption":
        return task.get("truth") or (task.get("references") or [None])[0]
    return None
