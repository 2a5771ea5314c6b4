"""Plain-words rule: what a real broken model emits fails, ordinary short answers pass, nothing raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.text_quality import is_plain_words, plain_words_problem

# Verbatim shape of what the demo's degraded SmolLM2 (seeded-noise weights) answered in a real round.
DEGRADED = "ies incrementiesradingeledridisco...IS proudies\ufffd..."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (DEGRADED, "replacement-char"),
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("...!?", "empty"),
        ("the the the the the the the the", "repetitive"),
        ("hello " * 40, "repetitive"),
        ("ies incrementiesradingeledridiscoveredhorizontally IS proudiesmanufacturingtonicity", "implausible-words"),
        ("\U0001f600\U0001f600\U0001f600 ok \u2603\u2603\u2603\u2603\u2603", "not-language"),
        ("fine\x00\x01 text", "control-char"),
        (None, "empty"),
    ],
)
def test_degenerate_answers_are_not_plain_words(text, problem) -> None:
    assert plain_words_problem(text) == problem


@pytest.mark.parametrize(
    "text",
    [
        "The square root of 144 is 12.",
        "A spider has 8 legs.",
        "Ça dépend : le musée ouvre à 9 h, fermé le lundi.",
        "Die Donaudampfschifffahrt ist heute geschlossen.",
        "東京は日本の首都です。",
        "I can't do that with the tools I have, sorry!",
        "Sure — it costs $12.50 (about 11 €).",
        "Yes.",
    ],
)
def test_ordinary_answers_are_plain_words(text) -> None:
    assert plain_words_problem(text) is None
    assert is_plain_words(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_never_raises(text) -> None:
    assert plain_words_problem(text) in {
        None,
        "empty",
        "replacement-char",
        "control-char",
        "not-language",
        "implausible-words",
        "repetitive",
    }
