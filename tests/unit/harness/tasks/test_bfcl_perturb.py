"""Perturbed BFCL entries ask the same thing as the originals, and a memorised answer key fails on them.

Runs over every entry of every BFCL category the default mix draws from (no model: pure Python, seconds)."""

from __future__ import annotations

import copy
import datetime
import json
import random
import re
from collections import Counter

import pytest

from harness.tasks import bfcl
from harness.tasks.bfcl_perturb import numbers_inside, perturb
from harness.tasks.config import DEFAULT_BFCL_CATEGORIES
from harness.tasks.naming import SYNONYMS, words_of
from scoring.toolcall import check
from tests.support.bfcl_support import bfcl_data_dir, calls_from_truth, real_ast_checker

MAX_UNPERTURBED_SHARE = 0.01


def _stated(value: object, text: str) -> bool:
    """Does the question state `value`: a number as a literal, a string word for word, a date in any common form?"""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        spellings = {str(value)} | ({str(int(value))} if float(value).is_integer() else set())
        sign = "" if value < 0 else "-"
        return any(re.search(rf"(?<![\w.{sign}]){re.escape(s)}(?![\w]|\.\d)", text) for s in spellings)
    if not isinstance(value, str) or not value:
        return False
    forms = {value}
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = datetime.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        forms |= {day.strftime(f) for f in ("%Y-%m-%d", "%m/%d/%Y", "%B %d, %Y", "%d %B %Y", "%b %d, %Y")}
        forms |= {f"{day:%B} {day.day}, {day.year}", f"{day:%B} {day.day} {day.year}", f"{day.day} {day:%B} {day.year}"}
    return any(re.search(rf"(?<![\w]){re.escape(f)}(?![\w])", text, re.IGNORECASE) for f in forms)


def _user_text(conversation: list[dict]) -> str:
    return "\n".join(m["content"] for m in conversation if isinstance(m.get("content"), str))


@pytest.mark.parametrize("category", sorted(DEFAULT_BFCL_CATEGORIES))
def test_every_entry_is_perturbed_consistently_or_counted(category: str) -> None:
    data = bfcl_data_dir()
    lines = [json.loads(line) for line in (data / f"BFCL_v4_{category}.json").read_text().splitlines() if line]
    entries = bfcl.load_entries(data, category)
    assert len(entries) == len(lines), "an entry was dropped"
    bfcl_check, language = real_ast_checker()
    pool = [f for e in entries for f in e["functions"]]
    values = bfcl.bfcl_value_pool(data, sorted(DEFAULT_BFCL_CATEGORIES))
    outcome: Counter[str] = Counter()
    for index, entry in enumerate(entries):
        result = perturb(
            entry["functions"],
            entry["conversation"],
            entry["answer"],
            entry["category"],
            random.Random(index),
            pool,
            values,
        )
        if not result.perturbed:
            outcome["unperturbed"] += 1
            assert result.reason and result.functions == entry["functions"] and result.answer == entry["answer"]
            continue
        outcome["perturbed"] += 1
        outcome["resampled"] += result.resampled
        text = _user_text(result.conversation)
        old_names = {f["name"] for f in entry["functions"]}
        new_names = [f["name"] for f in result.functions]
        assert len(set(new_names)) == len(new_names) and not old_names & set(new_names)
        for old in old_names:  # an identifier the question spelled out is spelled the new way
            if "_" in old or "." in old:
                assert not re.search(rf"(?<![\w.]){re.escape(old)}(?![\w])", text), (entry["source"], old)
        for old, new in (result.renamed or {}).items():  # each word of a name is kept or said by a synonym
            new_words = set(words_of(new))
            for word in words_of(old):
                said = {word, *(w for synonym in SYNONYMS.get(word, ()) for w in synonym.split("_"))}
                assert said & new_words, (old, new)
        if "irrelevance" in category:
            assert result.answer == []
            continue
        called = {next(iter(a)) for a in result.answer}
        assert called <= set(new_names)
        for entry_answer in result.answer:  # the docs of each called function hold every answered parameter
            ((name, args),) = entry_answer.items()
            props = next(f for f in result.functions if f["name"] == name)["parameters"]["properties"]
            assert set(args) <= set(props)
        for entry_answer, old_answer in zip(result.answer, entry["answer"], strict=True):
            new_args, old_args = next(iter(entry_answer.values())), next(iter(old_answer.values()))
            for new_alts, old_alts in zip(new_args.values(), old_args.values(), strict=True):
                if new_alts != old_alts:  # a re-sampled value: stated in the question, the old one no longer
                    outcome["values changed"] += 1
                    assert any(_stated(v, text) for v in new_alts), (entry["source"], new_alts, text)
                    for old_value in old_alts:
                        if _stated(old_value, _user_text(entry["conversation"])) and not any(
                            _stated(old_value, str(v)) for v in new_alts
                        ):
                            assert not _stated(old_value, text), (entry["source"], old_value, text)
        for pick in (0, -1):  # the new key passes BFCL's own checker wherever the old one did
            calls = calls_from_truth(result.answer, pick)
            ours = check(result.functions, copy.deepcopy(calls), result.answer, category)
            theirs = bfcl_check(result.functions, copy.deepcopy(calls), result.answer, language.PYTHON, category, "m")
            before = check(entry["functions"], calls_from_truth(entry["answer"], pick), entry["answer"], category)
            assert ours.valid == theirs["valid"], (entry["source"], pick, theirs)
            assert ours.valid or not before.valid, (entry["source"], pick, theirs)
        memorised = calls_from_truth(entry["answer"], 0)
        assert not check(result.functions, memorised, result.answer, category).valid, entry["source"]
    assert outcome["unperturbed"] <= MAX_UNPERTURBED_SHARE * len(entries) + 2, outcome
    outcome["key fails checker (not sampled)"] = len(entries) - len(bfcl.sampled_entries(data, category))
    assert outcome["key fails checker (not sampled)"] <= 3
    print(f"{category}: {dict(outcome)} of {len(entries)}")


def test_perturbation_is_seeded_and_keeps_the_question_otherwise() -> None:
    entries = bfcl.load_entries(bfcl_data_dir(), "simple_python")
    entry = next(e for e in entries if "a=1, b=-3, c=2" in _user_text(e["conversation"]))
    one = perturb(entry["functions"], entry["conversation"], entry["answer"], "simple", random.Random(5))
    two = perturb(entry["functions"], entry["conversation"], entry["answer"], "simple", random.Random(5))
    assert one == two
    other = perturb(entry["functions"], entry["conversation"], entry["answer"], "simple", random.Random(6))
    assert other.functions[0]["name"] != one.functions[0]["name"] or other.answer != one.answer
    before = re.sub(r"-?\d+", "N", _user_text(entry["conversation"]))
    assert re.sub(r"-?\d+", "N", _user_text(one.conversation)) == before  # only the numbers moved


def test_resampled_numbers_keep_their_order_in_the_text() -> None:
    """`between 5 and 10` stays a range: a new value stays strictly between its neighbours in the text."""
    functions = [{"name": "pick_range", "description": "Pick.", "parameters": {"type": "dict", "properties": {
        "low": {"type": "integer"}, "high": {"type": "integer"}}, "required": ["low", "high"]}}]  # fmt: skip
    conversation = [{"role": "user", "content": "Choose a number between 5 and 10, not 20."}]
    answer = [{"pick_range": {"low": [5], "high": [10]}}]
    for seed in range(50):
        result = perturb(functions, conversation, answer, "simple", random.Random(seed))
        (low, high) = numbers_inside(result.answer)  # parameters keep their order through renaming
        values = [int(x) for x in re.findall(r"\d+", result.conversation[0]["content"])]
        assert values == [low, high, 20] and low < high < 20, result.conversation
    assert result.perturbed and result.resampled == 2


_WEATHER = [{"name": "get_weather", "description": "Get the current weather. Returns the specified 'celsius' or "
             "'fahrenheit' reading.", "parameters": {"type": "dict", "properties": {
    "city": {"type": "string", "description": "The city name."},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit", "kelvin"], "description": "The unit."},
    "days": {"type": "integer", "description": "Days ahead."}}, "required": ["city", "unit", "days"]}}]  # fmt: skip
_WEATHER_Q = [{"role": "user", "content": "What will the weather be in Lisbon in celsius 3 days from now?"}]
_WEATHER_KEY = [{"get_weather": {"city": ["Lisbon"], "unit": ["celsius"], "days": [3]}}]
_CITIES = {"city": ("Berlin", "Lisbon", "Madrid", "Oslo", "Paris", "Rome")}


def test_stated_strings_and_enums_are_resampled_in_question_and_key_together() -> None:
    seen_cities, seen_units = set(), set()
    for seed in range(40):
        result = perturb(_WEATHER, _WEATHER_Q, _WEATHER_KEY, "simple", random.Random(seed), None, _CITIES)
        text = _user_text(result.conversation)
        (((_name, args),),) = [a.items() for a in result.answer]
        (function,) = result.functions
        params = function["parameters"]["properties"]
        city, unit = (next(v for p, v in args.items() if params[p]["type"] == t and ("enum" in params[p]) == e)
                      for t, e in (("string", False), ("string", True)))  # fmt: skip
        assert len(city) == 1 and city[0] in text and "Lisbon" not in text, (city, text)
        assert len(unit) == 1 and unit[0] in text and "celsius" not in text, (unit, text)
        seen_cities.add(city[0])
        seen_units.add(unit[0])
        check_result = check(result.functions, calls_from_truth(result.answer, 0), result.answer, "simple")
        assert check_result.valid, check_result
    assert seen_cities == set(_CITIES["city"]) - {"Lisbon"} and seen_units == {"fahrenheit", "kelvin"}


def test_docs_are_reworded_and_reordered_but_keep_names_types_and_quoted_values() -> None:
    orders, descriptions = set(), set()
    for seed in range(30):
        result = perturb(_WEATHER, _WEATHER_Q, _WEATHER_KEY, "simple", random.Random(seed), None, _CITIES)
        (function,) = result.functions
        props = function["parameters"]["properties"]
        orders.add(tuple(spec["type"] + str("enum" in spec) for spec in props.values()))
        descriptions.add(function["description"])
        assert "'celsius'" in function["description"] and "'fahrenheit'" in function["description"]
        assert sorted(function["parameters"]["required"]) == sorted(props)
        assert sorted(spec["type"] for spec in props.values()) == ["integer", "string", "string"]
    assert len(orders) > 1, "parameter order never changed"
    assert len(descriptions) > 3, descriptions


def test_perturbation_with_value_pool_is_a_pure_function_of_seed_and_entry() -> None:
    entries = bfcl.load_entries(bfcl_data_dir(), "live_multiple")[:60]
    values = bfcl.bfcl_value_pool(bfcl_data_dir(), sorted(DEFAULT_BFCL_CATEGORIES))
    pool = [f for e in entries for f in e["functions"]]
    for index, entry in enumerate(entries):
        args = (entry["functions"], entry["conversation"], entry["answer"], entry["category"])
        one = perturb(*args, random.Random(index), pool, values)
        two = perturb(*copy.deepcopy(args), random.Random(index), copy.deepcopy(pool), dict(values))
        assert one == two, entry["source"]
