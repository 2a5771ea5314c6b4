"""Miner strategies that use no language model, written against the public code and data (issue 20).

Each strategy maps a task to an answer text (what a model would reply), reading only what a model sees (the
offered functions and the conversation):

- `grammar_inverter` (tests/support/grammar_inverter.py): inverts the generator's public grammar exactly; it
  answers generated tasks and nothing else;
- `bfcl_lookup` (tests/support/bfcl_lookup.py, when present): finds a perturbed BFCL task's source entry in the
  public data and maps its answer key through the perturbation;
- `extract_values`: no vocabulary at all: the offered function whose words overlap the request most, with values
  copied from the text by type (numbers nearest the parameter's words, quoted or capitalised spans, dates, enum
  values the text names); it can earn partial credit on any task, strict credit rarely;
- `combined`: what a miner would route: the inverter for tasks whose functions are the generator's, the lookup for
  tasks it finds confidently in BFCL, extraction otherwise;
- and the baselines: placeholders, refusing, the oracle.

tests/unit/harness/tasks/test_adversaries.py and bench/bench_heldout.py measure them through the validator's own
scoring path.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

from harness.tasks.naming import words_of
from harness.tasks.prompts import TOOLCALL_SYSTEM_PROMPT
from tests.support import grammar_inverter

Strategy = Callable[[dict], str]
LOOKUP_CONFIDENCE = 0.3
"""The TF-IDF cosine of the best BFCL candidate above which `combined` trusts the lookup (a perturbed BFCL
question keeps most of its words; a question from elsewhere rarely reaches this)."""

_STOP_WORDS = (
    "a an the of to in for and or is are be on at by with from as it this that what my me i you your can could "
    "please want need would like will should do does how which who when where there their them its get"
)
_STOP = frozenset(_STOP_WORDS.split())
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w.]\w)")
_QUOTED = re.compile(r"\"([^\"\n]{1,80})\"|(?<!\w)'([^'\n]{1,80})'(?!\w)")
_CAPITALISED = re.compile(r"\b[A-Z][\w-]*(?: (?:[A-Z][\w-]*|of|de|la))*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+\w")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def user_text(task: dict) -> str:
    """The conversation a model reads, without the function listing of the system prompt."""
    return "\n".join(
        m["content"]
        for m in task["messages"]
        if isinstance(m.get("content"), str) and not m["content"].startswith(TOOLCALL_SYSTEM_PROMPT)
    )


def _words(text: str) -> set[str]:
    return {w for w in (w.lower() for w in re.findall(r"[A-Za-z]+", text)) if len(w) > 2 and w not in _STOP}


def _function_words(function: dict) -> set[str]:
    words = {w for w in words_of(str(function.get("name", ""))) if len(w) > 2 and w not in _STOP}
    return words | _words(str(function.get("description", "")))


def _nearest(text: str, candidates: list[tuple[int, Any]], words: set[str], used: set[int]) -> Any:
    """The unused candidate (position, value) closest to any of `words` in the text (else the first unused)."""
    spots = [m.start() for m in re.finditer(r"[A-Za-z]+", text) if m[0].lower() in words]
    free = [(i, c) for i, c in enumerate(candidates) if i not in used]
    if not free:
        return None
    index, (_, value) = min(free, key=lambda ic: min((abs(ic[1][0] - s) for s in spots), default=ic[0]))
    used.add(index)
    return value


def _values(function: dict, text: str) -> dict[str, Any]:
    """Arguments copied from the text by each parameter's type; a parameter with no candidate is left out."""
    props = (function.get("parameters") or {}).get("properties") or {}
    numbers = [(m.start(), m[0].replace(",", "")) for m in _NUMBER.finditer(text)]
    strings = [(m.start(), m[1] or m[2]) for m in _QUOTED.finditer(text)]
    strings += [
        (m.start(), m[0])
        for m in _CAPITALISED.finditer(text)
        if m[0].lower() not in _STOP and not re.search(r"(?:^|[.?!:]\s+)$", text[: m.start()])
    ]
    dates = [(m.start(), m[0]) for m in _DATE.finditer(text)]
    emails = [(m.start(), m[0]) for m in _EMAIL.finditer(text)]
    used: dict[str, set[int]] = {"n": set(), "s": set(), "d": set(), "e": set()}
    lowered = text.lower()
    args: dict[str, Any] = {}
    for name, spec in props.items():
        if not isinstance(spec, dict):
            continue
        kind = spec.get("type")
        near = set(words_of(name)) | _words(str(spec.get("description", "")))
        value: Any = None
        if spec.get("enum"):
            value = next((e for e in spec["enum"] if isinstance(e, str) and e.lower() in lowered), None)
        elif kind == "integer":
            ints = [(p, v) for p, v in numbers if "." not in v]
            picked = _nearest(text, ints, near, used["n"])
            value = None if picked is None else int(float(picked))
        elif kind in ("float", "number"):
            picked = _nearest(text, numbers, near, used["n"])
            value = None if picked is None else float(picked)
        elif kind == "string" and "date" in near and dates:
            value = _nearest(text, dates, near, used["d"])
        elif kind == "string" and "email" in near and emails:
            value = _nearest(text, emails, near, used["e"])
        elif kind == "string":
            value = _nearest(text, strings, near, used["s"])
        if value is not None:
            args[name] = value
    return args


def _repeated_numeric_calls(function: dict, text: str) -> list[dict] | None:
    """Several calls when every required parameter is a number and the text states a multiple of their count
    (BFCL's parallel questions: "the area of triangles with base 10, height 5 and base 8, height 3")."""
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    required = [p for p in params.get("required", []) if isinstance(props.get(p), dict)]
    numeric = [p for p in required if props[p].get("type") in ("integer", "float", "number")]
    numbers = [m[0].replace(",", "") for m in _NUMBER.finditer(text)]
    if not numeric or len(numeric) != len(required) or len(numbers) < 2 * len(numeric) or len(numbers) % len(numeric):
        return None
    calls = []
    for start in range(0, len(numbers), len(numeric)):
        chunk = zip(numeric, numbers[start : start + len(numeric)], strict=True)
        args = {p: int(float(v)) if props[p]["type"] == "integer" else float(v) for p, v in chunk}
        calls.append({"name": function["name"], "arguments": args})
    return calls


def extract_values(task: dict) -> str:
    """Word overlap picks the function, values come from the text; nothing in common with any function: refuse."""
    text = user_text(task)
    words = _words(text)
    scored = [(len(words & _function_words(f)), i) for i, f in enumerate(task["functions"]) if isinstance(f, dict)]
    if not scored or max(scored)[0] == 0:
        return "[]"
    _, best = max(scored, key=lambda si: (si[0], -si[1]))
    function = task["functions"][best]
    single = [{"name": function["name"], "arguments": _values(function, text)}]
    return json.dumps(_repeated_numeric_calls(function, text) or single)


def grammar_inverter_answer(task: dict) -> str:
    """The inverter on the tasks whose functions it knows; a refusal elsewhere."""
    return grammar_inverter.invert(task) if grammar_inverter.knows(task) else "[]"


@functools.cache
def lookup_module() -> Any:
    """tests/support/bfcl_lookup.py when it exists (written by another part of issue 20), else None."""
    try:
        from tests.support import bfcl_lookup
    except ImportError:
        return None
    return bfcl_lookup


def lookup_answer(task: dict) -> str:
    """The BFCL lookup on any task (it is not told the task's source); `[]` when it finds nothing."""
    lookup = lookup_module()
    calls = lookup.lookup_calls(task) if lookup is not None else None
    return json.dumps(calls) if calls else "[]"


def lookup_confident(task: dict) -> bool:
    """Whether the lookup's best BFCL candidate is close enough to trust (how a miner routes to it)."""
    lookup = lookup_module()
    if lookup is None:
        return False
    try:
        candidates = lookup._candidates(user_text(task), 1)
    except AttributeError:  # an index without a ranking we can read: trust any hit
        return lookup.lookup_calls(task) is not None
    return bool(candidates) and candidates[0][0] >= LOOKUP_CONFIDENCE and not math.isnan(candidates[0][0])


def route(task: dict) -> str:
    """Which strategy `combined` uses for a task: `grammar_inverter`, `bfcl_lookup` or `extract_values`."""
    if grammar_inverter.knows(task):
        return "grammar_inverter"
    if lookup_confident(task):
        return "bfcl_lookup"
    return "extract_values"


def combined(task: dict) -> str:
    """The miner's router: each task to the strategy made for the source it looks like."""
    return ROUTED[route(task)](task)


def _placeholder(spec: dict) -> Any:
    if spec.get("enum"):
        return spec["enum"][0]
    if "default" in spec:
        return spec["default"]
    return {"integer": 1, "float": 1.0, "number": 1.0, "boolean": False, "array": [], "dict": {}}.get(
        spec.get("type"), "placeholder"
    )


def _call(function: dict, args: dict) -> dict:
    return {"name": function["name"], "arguments": args}


def call_everything(task: dict) -> str:
    """Calls every offered function once, with placeholder values for its required parameters."""
    calls = []
    for function in task["functions"]:
        props = function.get("parameters", {}).get("properties", {})
        required = function.get("parameters", {}).get("required", [])
        calls.append(_call(function, {p: _placeholder(props.get(p, {})) for p in required}))
    return json.dumps(calls)


def right_function_placeholders(task: dict) -> str:
    """Knows the right function (peeks at the answer key's names) but fills placeholder/default/first-enum values."""
    functions = {f["name"]: f for f in task["functions"]}
    calls = []
    for entry in task["possible_answer"]:
        name = next(iter(entry))
        props = functions[name].get("parameters", {}).get("properties", {})
        calls.append(_call(functions[name], {p: _placeholder(props.get(p, {})) for p in entry[name]}))
    return json.dumps(calls) if calls else ""


def always_refuse(task: dict) -> str:
    return "[]"


def oracle(task: dict) -> str:
    """The ground truth's first alternatives: what a perfect model answers."""
    from tests.support.bfcl_support import calls_from_truth

    calls = calls_from_truth(task["possible_answer"], 0)
    return json.dumps([{"name": n, "arguments": a} for call in calls for n, a in call.items()]) if calls else "[]"


ROUTED: dict[str, Strategy] = {
    "grammar_inverter": grammar_inverter_answer,
    "bfcl_lookup": lookup_answer,
    "extract_values": extract_values,
}
STRATEGIES: dict[str, Strategy] = {
    "grammar_inverter": grammar_inverter_answer,
    "extract_values": extract_values,
    "call_everything": call_everything,
    "right_function_placeholders": right_function_placeholders,
    "always_refuse": always_refuse,
    "oracle": oracle,
}
