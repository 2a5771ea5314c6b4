"""Fresh tool-call tasks from the function library: a seed in, BFCL-shaped tasks out.

Generated tasks cannot have been memorised, which is why production rounds use them. Every random choice comes
from the `rng` handed in, in a fixed order, so the same seed yields the same tasks byte for byte.
"""

from __future__ import annotations

import random
import string
from typing import Any

from harness.tasks.prompts import openai_tools, toolcall_messages
from harness.tasks.toolcall_library import IRRELEVANT_REQUESTS, LIBRARY, Function

_FORMATTER = string.Formatter()
_CONNECTORS = ("Also, ", "Then ", "And ", "After that, ")


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def _render(function: Function, rng: random.Random) -> tuple[str, dict]:
    """One request sentence and its ground-truth entry `{name: {param: [alternatives]}}`."""
    template = rng.choice(function.templates)
    named = set(_fields(template))
    spoken: dict[str, str] = {}
    answer: dict[str, list] = {}
    values: dict[str, Any] = {}
    for param in function.params:
        if param.name in named:
            value = param.sample(rng)
            while param.distinct_from and value == values.get(param.distinct_from):
                value = param.sample(rng)
            values[param.name] = value
            spoken[param.name] = param.say(value)
            answer[param.name] = param.accepted(value)
        elif param.required:
            raise ValueError(f"template of {function.name} leaves out required {param.name}")
        else:
            answer[param.name] = [""] if param.default is None else ["", param.default]
    return template.format(**spoken), {function.name: answer}


def _join_requests(sentences: list[str], rng: random.Random) -> str:
    out = [sentences[0]]
    for sentence in sentences[1:]:
        connector = rng.choice(_CONNECTORS)
        out.append(connector + sentence[0].lower() + sentence[1:])
    return " ".join(out)


def _task(category: str, functions: list[Function], text: str, answers: list[dict], rng: random.Random) -> dict:
    docs = [f.schema() for f in functions]
    rng.shuffle(docs)
    conversation = [{"role": "user", "content": text}]
    return {
        "family": "toolcall",
        "category": category,
        "source": "generated",
        "functions": docs,
        "tools": openai_tools(docs),
        "messages": toolcall_messages(docs, conversation),
        "possible_answer": answers,
    }


def generate_one(category: str, rng: random.Random) -> dict:
    library = list(LIBRARY)
    if category == "simple":
        (function,) = rng.sample(library, 1)
        text, answer = _render(function, rng)
        return _task(category, [function], text, [answer], rng)
    if category == "multiple":
        chosen = rng.sample(library, rng.randint(2, 4))
        text, answer = _render(chosen[0], rng)
        return _task(category, chosen, text, [answer], rng)
    if category == "parallel":
        (function,) = rng.sample(library, 1)
        rendered = [_render(function, rng) for _ in range(rng.randint(2, 3))]
        text = _join_requests([r[0] for r in rendered], rng)
        return _task(category, [function], text, [r[1] for r in rendered], rng)
    if category == "parallel_multiple":
        chosen = rng.sample(library, rng.randint(2, 4))
        called = chosen[: rng.randint(2, len(chosen))]
        rendered = [_render(f, rng) for f in called]
        text = _join_requests([r[0] for r in rendered], rng)
        return _task(category, chosen, text, [r[1] for r in rendered], rng)
    if category == "irrelevance":
        chosen = rng.sample(library, rng.randint(1, 3))
        return _task(category, chosen, rng.choice(IRRELEVANT_REQUESTS), [], rng)
    raise ValueError(f"unknown tool-call category {category!r}")


def generate(n: int, weights: dict[str, float], rng: random.Random) -> list[dict[str, Any]]:
    categories = sorted(c for c, w in weights.items() if w > 0)
    chosen = rng.choices(categories, weights=[weights[c] for c in categories], k=n)
    return [generate_one(category, rng) for category in chosen]
