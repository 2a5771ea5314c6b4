"""Seeded, meaning-preserving perturbation of a BFCL entry, so that a memorised answer key fails.

BFCL's data is public: a miner can ship a model that recalls each question's answer. Each perturbation keeps
what the question asks and changes what a lookup keys on:

- function and parameter names are renamed consistently (`naming.rename`: synonyms, style, namespace) in the
  docs, the ground truth and wherever the question or a description spells the identifier out;
- function order is shuffled, and for `multiple` / `parallel_multiple` entries distractor functions from other
  entries (sharing no content word with the question) are added;
- numbers the question states literally, once, and that are one answer value, are re-sampled (staying strictly
  between their neighbours in the text, so ranges and orderings keep their sense) in the question and the
  answer together;
- strings the question states (places, names, titles, enum values, dates) are re-sampled the same way
  (`bfcl_values`), from values other BFCL questions state for parameters of the same kind;
- descriptions are said in other words and another sentence order, and `properties` and `required` are
  shuffled (`bfcl_rewrite`), so neither a masked description nor a parameter's position identifies the entry;
- a question's sentences are put in another order where none refers back to an earlier one.

An entry where a rename cannot be applied everywhere (an old identifier would stay visible in the text) is
used unperturbed and counted (`Perturbation.perturbed` False), never dropped.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import re
from dataclasses import dataclass
from typing import Any

from harness.tasks.bfcl_rewrite import reorder_question, rewrite_function
from harness.tasks.bfcl_values import ValuePool, resample_strings
from harness.tasks.naming import rename

_NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?![\w]|\.\d)")
_CONTENT_WORD = re.compile(r"[a-z]{4,}")
_DISTRACTOR_CATEGORIES = ("multiple", "parallel_multiple")


@dataclass(frozen=True)
class Perturbation:
    functions: list[dict]
    conversation: list[dict]
    answer: list[dict]
    perturbed: bool
    reason: str = ""
    renamed: dict[str, str] | None = None
    resampled: int = 0


def _looks_like_identifier(name: str) -> bool:
    """Spelled like code (`max_results`, `getWeather`, `math.factorial`): safe to rewrite where it appears."""
    return "_" in name or "." in name or any(a.islower() and b.isupper() for a, b in itertools.pairwise(name))


def _replace_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w])", new, text)


def _map_text(conversation: list[dict], fn: Any) -> list[dict]:
    out = []
    for message in conversation:
        message = dict(message)
        if isinstance(message.get("content"), str):
            message["content"] = fn(message["content"])
        out.append(message)
    return out


def _texts(conversation: list[dict]) -> str:
    return "\n".join(m["content"] for m in conversation if isinstance(m.get("content"), str))


def _rename_identifiers(text: str, mapping: dict[str, str]) -> str:
    for old in sorted(mapping, key=len, reverse=True):
        if _looks_like_identifier(old):
            text = _replace_word(text, old, mapping[old])
    return text


def _rename_entry(functions: list[dict], conversation: list[dict], answer: list[dict], rng: random.Random):
    taken = {f.get("name", "") for f in functions}
    fn_names = {f["name"]: rename(f["name"], rng, taken, namespace=True) for f in functions}
    param_maps: dict[str, dict[str, str]] = {}
    new_functions = []
    for function in functions:
        params = function.get("parameters") or {}
        props = params.get("properties") or {}
        taken_params = set(props)
        mapping = {p: rename(p, rng, taken_params, namespace=False) for p in props}
        param_maps[function["name"]] = mapping
        text_map = {**fn_names, **mapping}
        new_params = {
            **params,
            "properties": {mapping[p]: _rewrite_descriptions(spec, text_map) for p, spec in props.items()},
        }
        if isinstance(params.get("required"), list):
            new_params["required"] = [mapping.get(p, p) for p in params["required"]]
        new_functions.append(
            {
                **function,
                "name": fn_names[function["name"]],
                "description": _rename_identifiers(str(function.get("description", "")), text_map),
                "parameters": new_params,
            }
        )
    new_answer = []
    for entry in answer:
        ((name, args),) = entry.items()
        mapping = param_maps[name]
        new_answer.append({fn_names[name]: {mapping[p]: v for p, v in args.items()}})
    every = dict(fn_names)
    for mapping in param_maps.values():
        every.update({old: new for old, new in mapping.items() if _looks_like_identifier(old)})
    new_conversation = _map_text(conversation, lambda text: _rename_identifiers(text, every))
    return new_functions, new_conversation, new_answer, fn_names


def _rewrite_descriptions(spec: Any, mapping: dict[str, str]) -> Any:
    if not isinstance(spec, dict):
        return spec
    out = dict(spec)
    if isinstance(out.get("description"), str):
        out["description"] = _rename_identifiers(out["description"], mapping)
    return out


def _resample_numbers(
    conversation: list[dict], answer: list[dict], rng: random.Random, original: str
) -> tuple[list, list, int]:
    """Re-sample numbers stated once in the text that are exactly one top-level answer value; `original` is the
    question before any value changed (a literal it lacks came with a new string and is left alone)."""
    text = _texts(conversation)
    literals = [m.group(0) for m in _NUMBER.finditer(text)]
    numbers = sorted({float(x) for x in literals})
    said = [m.group(0) for m in _NUMBER.finditer(original)]
    said_before = {*numbers, *(float(x) for x in said)}  # never a number the question said before: it reads as old
    answer = copy.deepcopy(answer)
    conversation = copy.deepcopy(conversation)
    uses: dict[float, int] = {}
    for entry in answer:
        for alternatives in next(iter(entry.values())).values():
            for alt in alternatives:
                if isinstance(alt, int | float) and not isinstance(alt, bool):
                    uses[float(alt)] = uses.get(float(alt), 0) + 1
                elif alt != "":
                    for value in numbers_inside(alt):
                        uses[value] = uses.get(value, 0) + 2  # also inside a list or dict: leave it alone
    changed = 0
    done: set[tuple[int, str]] = set()
    for entry in answer:
        args = next(iter(entry.values()))
        for param, alternatives in args.items():
            real = [a for a in alternatives if a != ""]
            if (id(args), param) in done or len(real) != 1 or not _is_number(real[0]):
                continue
            value = real[0]
            spelled = _spelling(value, literals)
            # the calls that take this very number (`$1000` for each of three terms): all change together
            sharing = [
                (a, p)
                for e in answer
                for a in e.values()
                for p, alts in a.items()
                if [x for x in alts if x != ""] == [value] and type(alts[0]) is type(value)
            ]
            if (
                spelled is None
                or literals.count(spelled) != 1
                or said.count(spelled) != 1
                or uses.get(float(value)) != len(sharing)
            ):
                continue
            if {float(value) * 100, float(value) / 100} & set(numbers):
                continue  # said twice (`7% (0.07)`): changing one spelling would contradict the other
            new = _neighbour_value(value, spelled, numbers, rng, said_before)
            if new is None:
                continue
            new_spelled = str(new)
            conversation = _map_text(conversation, lambda t, s=spelled, n=new_spelled: _replace_number(t, s, n))
            for shared_args, shared_param in sharing:
                shared_args[shared_param] = [new]  # omission meant "the default", which the new value is not
                done.add((id(shared_args), shared_param))
            numbers = sorted({*(n for n in numbers if n != float(value)), float(new)})  # later picks keep order
            changed += len(sharing)
    return conversation, answer, changed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numbers_inside(value: Any) -> list[float]:
    """Every number in a value, at any depth (booleans are not numbers)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, list):
        return [n for item in value for n in numbers_inside(item)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers_inside(item)]
    return []


def _spelling(value: int | float, literals: list[str]) -> str | None:
    """How the text writes `value`: `5` for 5 or 5.0, `2.5` for 2.5."""
    candidates = [str(value)]
    if isinstance(value, float) and value.is_integer():
        candidates.insert(0, str(int(value)))
    for candidate in candidates:
        if candidate in literals:
            return candidate
    return None


def _neighbour_value(
    value: int | float, spelled: str, numbers: list[float], rng: random.Random, avoid: set[float]
) -> int | float | None:
    """A new value of the same sign and about the same size (half to double), strictly between the text's
    neighbouring numbers, written with the same number of decimals, and equal to no number already there."""
    below = max((n for n in numbers if n < value), default=None)
    above = min((n for n in numbers if n > value), default=None)
    low, high = sorted((value / 2, value * 2)) if value else (-1.0, 1.0)
    low = max(low, below) if below is not None else low
    high = min(high, above) if above is not None else high
    if value > 0:
        low = max(low, 0.0)
    elif value < 0:
        high = min(high, 0.0)
    decimals = len(spelled.split(".")[1]) if "." in spelled else 0
    scale = 10**decimals
    first, last = math.floor(low * scale) + 1, math.ceil(high * scale) - 1
    if last - first < 1:
        return None
    for _ in range(20):
        units = rng.randint(first, last)
        new: int | float = units / scale if decimals else units
        if low < new < high and new != value and float(new) not in numbers and float(new) not in avoid:
            if isinstance(value, float) and not decimals:
                new = float(new)
            return new
    return None


def _replace_number(text: str, old: str, new: str) -> str:
    sign = "" if old.startswith("-") else "-"  # `15` is not the tail of `-15`
    return re.sub(rf"(?<![\w.{sign}]){re.escape(old)}(?![\w]|\.\d)", new, text, count=1)


def _content_words(text: str) -> set[str]:
    return set(_CONTENT_WORD.findall(text.lower()))


def _distractors(question: str, pool: list[dict], rng: random.Random, names: set[str], k: int) -> list[dict]:
    words = _content_words(question)
    out: list[dict] = []
    for _ in range(k * 6):
        if len(out) >= k or not pool:
            break
        candidate = rng.choice(pool)
        if candidate.get("name") in names:
            continue
        if words & _content_words(f"{candidate.get('name', '')} {candidate.get('description', '')}"):
            continue
        names.add(candidate["name"])
        out.append({**copy.deepcopy(candidate), "name": rename(candidate["name"], rng, names, namespace=True)})
    return out


def perturb(
    functions: list[dict],
    conversation: list[dict],
    answer: list[dict],
    category: str,
    rng: random.Random,
    distractor_pool: list[dict] | None = None,
    value_pool: ValuePool | None = None,
) -> Perturbation:
    """A perturbed copy of one entry, or the entry as is with the reason it could not be perturbed safely."""
    unchanged = Perturbation(copy.deepcopy(functions), copy.deepcopy(conversation), copy.deepcopy(answer), False)
    names = [f.get("name") for f in functions if isinstance(f, dict)]
    if len(names) != len(functions) or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        return _why(unchanged, "function names missing or repeated")
    for entry in answer:
        if not isinstance(entry, dict) or len(entry) != 1:
            return _why(unchanged, "ground truth entry is not {name: args}")
        ((name, args),) = entry.items()
        function = next((f for f in functions if f["name"] == name), None)
        props = ((function or {}).get("parameters") or {}).get("properties") or {}
        if function is None or not isinstance(args, dict) or any(p not in props for p in args):
            return _why(unchanged, "ground truth names a function or parameter the docs lack")
    original = _texts(conversation)
    # values first, under the docs' own parameter names (what the value pool is keyed by)
    conversation, answer, strings = resample_strings(functions, conversation, answer, rng, value_pool or {})
    try:
        new_functions, new_conversation, new_answer, fn_names = _rename_entry(functions, conversation, answer, rng)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        return _why(unchanged, f"rename failed: {exc}")
    text = _texts(new_conversation)
    for old in fn_names:
        if _looks_like_identifier(old) and re.search(rf"(?<![\w.]){re.escape(old)}(?![\w])", text):
            return _why(unchanged, f"{old!r} still visible in the question")
    new_conversation, new_answer, resampled = _resample_numbers(new_conversation, new_answer, rng, original)
    text = original
    if any(category.endswith(c) for c in _DISTRACTOR_CATEGORIES) and distractor_pool:
        taken = {f["name"] for f in new_functions}
        new_functions += _distractors(text, distractor_pool, rng, taken, rng.randint(1, 2))
    new_conversation = reorder_question(new_conversation, rng)
    question_words = set(re.findall(r"[a-z]+", _texts(new_conversation).lower()))
    new_functions = [rewrite_function(f, rng, question_words) for f in new_functions]
    rng.shuffle(new_functions)
    resampled += strings
    return Perturbation(new_functions, new_conversation, new_answer, True, "", fn_names, resampled)


def _why(unchanged: Perturbation, reason: str) -> Perturbation:
    return Perturbation(unchanged.functions, unchanged.conversation, unchanged.answer, False, reason)
