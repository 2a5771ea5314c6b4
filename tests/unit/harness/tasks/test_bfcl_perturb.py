"""Perturbed BFCL entries ask the same thing as the originals, and a memorised answer key fails on them.

Runs over every entry of every BFCL category the default mix draws from (no model: pure Python, seconds)."""

from __future__ import annotations

import copy
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
    outcome: Counter[str] = Counter()
    for index, entry in enumerate(entries):
        result = perturb(
            entry["functions"], entry["conversation"], entry["answer"], entry["category"], random.Random(index), pool
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
                if new_alts != old_alts:  # a re-sampled number: stated in the question, as literally as before
                    (value,) = [a for a in new_alts if a != ""]
                    spellings = {str(value)} | ({str(int(value))} if float(value).is_integer() else set())
                    assert any(
                        re.search(rf"(?<![\w.]){re.escape(literal)}(?![\w]|\.\d)", text) for literal in spellings
                    ), (entry["source"], value)
        for pick in (0, -1):
            calls = calls_from_truth(result.answer, pick)
            ours = check(result.functions, copy.deepcopy(calls), result.answer, category)
            theirs = bfcl_check(result.functions, copy.deepcopy(calls), result.answer, language.PYTHON, category, "m")
            before = check(entry["functions"], calls_from_truth(entry["answer"], pick), entry["answer"], category)
            assert ours.valid == theirs["valid"] == before.valid, (entry["source"], pick, theirs)
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
