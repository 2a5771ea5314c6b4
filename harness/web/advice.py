"""What a miner can do about each named failure and each task-level reason, in one sentence.

Keyed by the failure's (stage, class) as the supervisor records it, and by a task's `error` / `error_type` prefix
as the evaluation stores it; anything unknown gets a generic pointer rather than nothing, so no 0 on the page is
left without a next step.
"""

from __future__ import annotations

FAILURES: dict[tuple[str, str], str] = {
    ("commitment", "malformed"): "Re-commit as ORG/NAME:REVISION:HASH[:COMPETITION] (`harness commitment` builds it).",
    ("policy", "rejected"): "Fix what the violations name, then check locally with `harness check MODEL` before "
    "committing again.",
    ("policy", "unreadable"): "Make the repository's files readable and well-formed; `harness check MODEL` shows "
    "which one fails.",
    ("fetch", "unreachable"): "Keep the repository public and the committed revision present on the Hub.",
    ("fetch", "hash-mismatch"): "Commit the hash of exactly the files at the committed revision "
    "(`harness commitment` computes it).",
    ("fetch", "fetch"): "Check that the committed revision downloads (`harness check hf://ORG/NAME@REVISION`).",
    ("prepare", "prepare-timeout"): "Reduce the number or size of files: preparing the model ran out of time.",
    ("prepare", "prepare-memory"): "Reduce the model's size: preparing it ran out of memory.",
    ("prepare", "unreachable"): "Keep the repository reachable at the committed revision.",
    ("sandbox", "crashed"): "The engine crashed on this model: run `harness selftest MODEL` and read its log.",
    ("sandbox", "oom"): "The engine ran out of memory: a smaller model or context length fits.",
    ("sandbox", "timeout"): "The engine did not become ready in time: run `harness selftest MODEL` to see why.",
    ("evaluate", "unknown-competition"): "Commit with a competition this validator runs (see /settings.json).",
    ("dedupe", "copy"): "The same content was committed earlier by another hotkey: it keeps the credit. "
    "Publish your own model.",
    ("dedupe", "near-copy"): "Your weights are nearly those of an earlier model: only a real improvement on the "
    "shared tasks earns weight.",
    ("weights", "covered"): "Beat every earlier model of your competition by the margin on the same tasks "
    "(docs/scoring.md): a copy or a small change earns nothing.",
    ("sketch", "unreadable"): "A signal only: the weight sketch could not be read (safetensors headers).",
    ("evaluate", "time-budget"): "Answer faster: tasks not started before the model's time budget score 0.",
}

TASK_REASONS: dict[str, str] = {
    "not-vision-capable": "This task needs images and the model is text-only: withheld, it counts 0. Commit a "
    "vision-language model for this competition.",
    "time-budget": "Not started before the model's time budget ran out: it counts 0. Answer faster.",
    "missing-output": "No answer was recorded for this task: it counts 0.",
    "engine-error": "The engine returned an error for this request: try the task with `harness selftest`.",
    "bad-response": "The engine's answer was not a valid chat completion.",
    "crashed": "The engine crashed during this task.",
    "oom": "The engine ran out of memory during this task.",
    "ast_decoder": "No function call could be parsed from the answer: answer with a tool call in the "
    "competition's format (native `tool_calls`, or one the parser reads).",
    "relevance_error": "A call was expected, but none could be parsed.",
    "irrelevance_error": "No function fits this request: the right answer is plain words, not a call.",
    "simple_function_checker": "The call's function or parameters do not match the expected call.",
    "multiple_function_checker": "The wrong number of calls: compare with the expected calls.",
    "parallel_function_checker_no_order": "The set of calls does not match the expected calls.",
    "type_error": "An argument has the wrong type: compare with the function's schema.",
    "value_error": "An argument has a value the expected call does not accept.",
    "dict_checker": "A dictionary argument does not match the expected one.",
    "list_dict_checker": "A list argument does not match the expected one.",
    "truncated": "The answer was cut at the token cap: answer shorter.",
}

GENERIC = "See docs/scoring.md and run `harness selftest MODEL` to reproduce it."


def advice_for(stage: str, failure_class: str) -> str:
    return FAILURES.get((stage, failure_class)) or TASK_REASONS.get(failure_class) or GENERIC


def task_advice(reason: str | None) -> str | None:
    """Advice for a task's `error` or `error_type` (`checker:detail`: the checker's prefix decides)."""
    if not reason:
        return None
    return TASK_REASONS.get(reason) or TASK_REASONS.get(reason.split(":", 1)[0]) or GENERIC
