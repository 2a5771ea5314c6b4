"""Miner strategies that use no language understanding, written against the task generator's own code.

Each strategy maps a task to an answer text (what a model would reply). The strongest is `invert_templates`:
it imports the generator's vocabulary (verbs, nouns, parameter phrases, value formats) and inverts the
request grammar with regular expressions, as a miner reading our repository would. The suite in
tests/unit/harness/tasks/test_adversaries.py
checks that none of them earns more than a sliver of what an honest model earns.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from harness.tasks.toolcall_library import (
    CAPITALS,
    ENUM_WORDS,
    FUNCTIONS,
    MONTHS,
    PEOPLE,
    attributes_of,
    function_name,
    number_word,
)

Strategy = Callable[[dict], str]
_BY_NAME = {function_name(op, obj): (op, obj) for op, obj in FUNCTIONS}
_MONTH = "|".join(MONTHS)
_WORD_NUMBERS = {number_word(i): i for i in range(100)} | {"a dozen": 12, "two dozen": 24}
_NUM = r"(?:\d[\d,]*(?:\.\d+)?|" + "|".join(sorted(map(re.escape, _WORD_NUMBERS), key=len, reverse=True)) + ")"
_VALUE = {
    "person": "|".join(map(re.escape, PEOPLE)),
    "email": r"[a-z]+\.[a-z]+@[a-z.]+[a-z]",
    "city": r"the capital of [A-Z][a-z]+|[A-Z][a-z]+",
    "title": r'"[^"]+"',
    "code": r"[A-Z0-9]{6,9}",
    "count": rf"(?:one more than |twice )?{_NUM}(?: plus (?:another )?{_NUM})?",
    "money": r"(?:\$|USD )?[\d,]+(?:\.\d+)?(?: dollars| USD)?(?: plus \$[\d,.]+ in fees)?",
    "percent": r"[\d.]+ ?(?:%|percent|per cent)|half|a quarter|three quarters|a tenth|a fifth|a twentieth",
    "date": r"(?:(?:the day|two days|a week|two weeks) (?:after|before) )?(?:"
    rf"\d{{4}}-\d\d-\d\d|(?:{_MONTH}) \d+(?:st|nd|rd|th)?,? \d{{4}}|\d+ (?:{_MONTH}) \d{{4}}"
    rf"|the \d+(?:st|nd|rd|th) of (?:{_MONTH}) \d{{4}}|\d\d\.\d\d\.\d{{4}})",
    "time": r"\d{1,2}:\d\d ?(?:am|pm|AM|PM)?|\d+ o'clock in the \w+|half past \w+ (?:in the morning|pm)",
    "minutes": rf"{_NUM}(?: and a half)? (?:minutes|hours?)|three quarters of an hour|a quarter of an hour",
    "kilograms": r"[\d,.]+ (?:grams|kg)",
    "kilometers": r"[\d,.]+ (?:meters|km)",
    "enum": r"[a-z_ ]+?",
    "emails": r"[a-z]+\.[a-z]+@[a-z.]+[a-z](?:(?:, | and | as well as )[a-z]+\.[a-z]+@[a-z.]+[a-z])*",
    "tags": r"[a-z0-9]+(?:(?:, | and | as well as )[a-z0-9]+)*",
    "readings": r"[\d.]+(?:(?:, | and | as well as )[\d.]+)+",
    "size": r"\d+ by \d+ pixels|\d+x\d+",
    "address": r"\d+ [A-Z][a-z]+ (?:Street|Road|Lane), [A-Z][a-z]+ \d{5}",
    "line_items": r"(?:\w+(?:-\w+)? x [a-z ]+?)(?:(?:, | and | as well as )\w+(?:-\w+)? x [a-z ]+?)*",
}


_DECOYS = re.compile(
    r"(?:Yesterday you|Do not|Last month|We once|Last quarter|For reference|Note that|Don't confuse|My colleague"
    r"|The old system|Earlier someone|Quick background)[^.?]*[.?]"
)
_ENUM_WORDS = {said.lower(): value for value, forms in ENUM_WORDS.items() for said in forms}
_CAPITAL_OF = {country: city for city, country in CAPITALS.items()}
_SHIFTS = {"the day after": 1, "two days after": 2, "a week after": 7, "the day before": -1, "a week before": -7,
           "two weeks after": 14}  # fmt: skip


def _number(text: str) -> float:
    text = text.strip().lower()
    return float(_WORD_NUMBERS[text]) if text in _WORD_NUMBERS else float(text.replace(",", ""))


def _date(text: str) -> str:
    for span, days in _SHIFTS.items():
        if text.startswith(span):
            return (dt.date.fromisoformat(_date(text[len(span) + 1 :])) + dt.timedelta(days=days)).isoformat()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return text
    if m := re.fullmatch(r"(\d\d)\.(\d\d)\.(\d{4})", text):
        return f"{m[3]}-{m[2]}-{m[1]}"
    day = int(re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b(?!\d)", text)[1])
    month = next(i for i, name in enumerate(MONTHS, 1) if name in text)
    year = re.search(r"\d{4}", text)[0]
    return f"{year}-{month:02d}-{day:02d}"


def _time(text: str) -> str:
    if m := re.fullmatch(r"(\d{1,2}):(\d\d) ?(am|pm)?", text.lower()):
        hour = int(m[1]) % 12 + (12 if m[3] == "pm" else 0) if m[3] else int(m[1])
        return f"{hour:02d}:{m[2]}"
    words = text.split()
    hour = int(_number(words[0] if words[0] != "half" else words[2])) % 12
    pm = "morning" not in text
    return f"{hour + 12 * pm:02d}:{'30' if text.startswith('half') else '00'}"


def _minutes(text: str) -> int:
    if "quarter" in text:
        return 45 if "three" in text else 15
    value = _number(text.split(" minutes")[0].split(" hour")[0].replace(" and a half", ""))
    value += 0.5 if "and a half" in text else 0
    return round(value * 60 if "hour" in text else value)


def _count(text: str) -> int:
    if m := re.fullmatch(r"one more than (.+)", text):
        return int(_number(m[1])) + 1
    if m := re.fullmatch(r"twice (.+)", text):
        return 2 * int(_number(m[1]))
    if m := re.fullmatch(r"(.+?) plus (?:another )?(.+)", text):
        return int(_number(m[1]) + _number(m[2]))
    return int(_number(text))


def _percent(text: str) -> float:
    words = {"half": 50, "a quarter": 25, "three quarters": 75, "a tenth": 10, "a fifth": 20, "a twentieth": 5}
    return (words[text] if text in words else _number(re.sub(r"[^\d.]", "", text))) / 100


def _parse(kind: str, text: str) -> Any:
    split = re.compile(r", | and | as well as ")
    converters: dict[str, Callable[[str], Any]] = {
        "title": lambda t: t.strip('"'),
        "count": _count,
        "money": lambda t: round(sum(_number(re.sub(r"[^\d.,]", "", p)) for p in t.split(" plus ")), 2),
        "percent": _percent,
        "city": lambda t: _CAPITAL_OF.get(t.removeprefix("the capital of "), t),
        "date": _date,
        "time": _time,
        "minutes": _minutes,
        "kilograms": lambda t: _number(t.split()[0]) / (1000 if "gram" in t else 1),
        "kilometers": lambda t: _number(t.split()[0]) / (1000 if "meter" in t else 1),
        "enum": lambda t: _ENUM_WORDS.get(t.strip().lower(), t.strip().replace(" ", "_")),
        "emails": lambda t: split.split(t),
        "tags": lambda t: split.split(t),
        "readings": lambda t: [float(x) for x in split.split(t)],
        "size": lambda t: dict(zip(("width", "height"), map(int, re.findall(r"\d+", t)), strict=True)),
        "address": lambda t: dict(
            zip(("street", "city", "postal_code"), re.fullmatch(r"(.+), (\w+) (\d+)", t).groups(), strict=True)
        ),
        "line_items": lambda t: [
            {"product": p.strip(), "quantity": int(_number(q))} for q, p in re.findall(r"(\S+) x ([a-z ]+)", t)
        ],
    }
    return converters.get(kind, lambda t: t)(text)


def _value_regex(attribute: Any) -> str:
    kind = attribute.kind_of()
    if kind.enum:
        said = [v.replace("_", " ") for v in kind.enum] + [w for v in kind.enum for w in ENUM_WORDS.get(v, ())]
        return "|".join(re.escape(v) for v in sorted(said, key=len, reverse=True))
    return _VALUE[kind.name]


def _extract(operation: Any, obj: Any, segment: str) -> dict:
    args: dict[str, Any] = {}
    for attribute in attributes_of(operation, obj):
        if attribute.yes_no is not None:
            for flag, phrases in zip((True, False), attribute.yes_no, strict=True):
                if any(p in segment for p in phrases):
                    args[attribute.name] = flag
            continue
        for phrase in sorted(attribute.phrases, key=len, reverse=True):
            head, _, tail = phrase.partition("{}")
            match = re.search(rf"(?:^|\W){re.escape(head)}({_value_regex(attribute)}){re.escape(tail)}(?=$|[\s,;.?])",
                              segment)  # fmt: skip
            if match:
                try:
                    args[attribute.name] = _parse(attribute.kind_of().name, match[1])
                except (ValueError, TypeError, AttributeError, KeyError, StopIteration):
                    continue
                break
    for match in re.finditer(
        r"(?:make the|the) ([a-z ]+?) (?:should be|instead|;? use) ?(.+?)(?: instead)?\.", segment
    ):
        for attribute in attributes_of(operation, obj):
            if attribute.description.split(".")[0].lower() == match[1] and re.fullmatch(
                _value_regex(attribute), match[2]
            ):
                args[attribute.name] = _parse(attribute.kind_of().name, match[2])
    return args


def invert_templates(task: dict) -> str:
    """Finds each offered function's verb and noun in the request, cuts its segment, and reads the values."""
    text = next(m["content"] for m in reversed(task["messages"]) if m["role"] == "user")
    for role, person in re.findall(r"My ([a-z ]+?) is ([A-Z][a-z]+ [A-Z][a-z]+)\.", text):
        text = text.replace(f"my {role}", person)
    text = _DECOYS.sub("", text)
    offered = [_BY_NAME[f["name"]] for f in task["functions"] if f["name"] in _BY_NAME]
    hits = []
    for operation, obj in offered:
        verbs = "|".join(map(re.escape, operation.verbs))
        nouns = "|".join(map(re.escape, sorted(obj.nouns, key=len, reverse=True)))
        patterns = [rf"(?<![\w'])(?:{verbs}) (?:a|an|the) (?:{nouns})\b"]
        if operation.participle:
            patterns.append(rf"\b(?:a|an|the) (?:{nouns})\b[^.?]*\b{operation.participle}\b")
        for pattern in patterns:
            hits += [(m.start(), operation, obj) for m in re.finditer(pattern, text, re.IGNORECASE)]
    if not hits:
        return "[]"
    sentences = [(m.start(), m.end()) for m in re.finditer(r"[^.?!]+(?:[.?!](?!\d)|$)(?:\s*(?:Actually|Sorry|Wait)"
                                                               r"[^.?]*[.?])?", text)]  # fmt: skip
    calls, seen = [], set()
    for start, operation, obj in sorted(hits, key=lambda hit: hit[0]):
        segment = next((text[a:b] for a, b in sentences if a <= start < b), text)
        if (segment, operation.name) in seen:
            continue
        seen.add((segment, operation.name))
        args = _extract(operation, obj, segment)
        calls.append(f"{function_name(operation, obj)}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    return "[" + ", ".join(calls) + "]"


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


STRATEGIES: dict[str, Strategy] = {
    "invert_templates": invert_templates,
    "call_everything": call_everything,
    "right_function_placeholders": right_function_placeholders,
    "always_refuse": always_refuse,
    "oracle": oracle,
}
