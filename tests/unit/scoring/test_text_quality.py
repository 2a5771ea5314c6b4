"""Plain-words rule: what a real broken model emits fails, ordinary short answers pass, nothing raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.text_quality import is_plain_words, plain_words_problem

# Verbatim shape of what the demo's degraded SmolLM2 (seeded-noise weights) answered in a real round.
DEGRADED = "ies incrementiesradingeledridisco...IS proudies\ufffd..."
# Recorded irrelevance answers of that model in real end-to-end rounds (first 160 characters, U+FFFD removed so
# the other rules are exercised); each scored 1.0 before answers had to be plain words.
RECORDED_DEGRADED = [
    ' punThis "isco incrementiesies incrementieldsithsiesithsies befacing icopiesIS Up said "rig taxithsies " '
    "taxiesmarkedapedIS PortNamediesiesoonISies enjoyingith",
    "ISallediesiesiesiesNamed proudiesithsoonrid partyiesIS enjoyingISields beISapersithsies reformersies "
    'proudapersNamed proudNamedies "ISheldsolarISsolarNamedfacin',
    "IS Covefacing @ mathemat compulsithsrading incrementenging incrementiesradingISithsapers disappearingmarked "
    "incorporISorianiesoonISided Delmancopfacingiesithsea",
    "ies incrementiesradingeledridiscoaccelippedoonaccel SubjectonapersridmarkedcopridiscoapersBurnradingonIScop "
    'proudithsiesrading "marked SubjectISithssolar writin',
]
# The real SmolLM2's recorded irrelevance answers in the same rounds.
RECORDED_SMOLLM2 = [
    "The sky looks blue because of the way our eyes perceive light. When light hits our planet's atmosphere, "
    "it's absorbed by molecules and converted into heat. This",
    "Romeo and Juliet: A tragic tale of love and fate.",
    "A Grey Cat",
    'The word "ephemeral" is a metaphorical expression that refers to something that is fleeting or ephemeral. '
    "It is often used to describe a thing that is not perma",
    "The square root of 144 is 14.",
]


@pytest.mark.parametrize("text", RECORDED_DEGRADED)
def test_recorded_degraded_answers_fail(text) -> None:
    assert plain_words_problem(text) in {"implausible-words", "mixed-case"}


@pytest.mark.parametrize("text", RECORDED_SMOLLM2)
def test_recorded_smollm2_answers_pass(text) -> None:
    assert plain_words_problem(text) is None


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
        "Use the iPhone app or call getWeather with a city.",
        "Pneumonia is an infection of the lungs.",
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
        "mixed-case",
        "repetitive",
    }
