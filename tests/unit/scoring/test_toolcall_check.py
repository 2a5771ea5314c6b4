"""Checker semantics on small hand-made cases, and the partial-credit signal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.toolcall import check, check_parsed, parse_message, parse_text, standardize_string

FN = {
    "name": "book",
    "description": "",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string"},
            "price": {"type": "float"},
            "people": {"type": "integer"},
            "outdoor": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "size": {"type": "dict", "properties": {"w": {"type": "integer"}}},
        },
        "required": ["city", "people"],
    },
}
TRUTH = [
    {
        "book": {
            "city": ["New York", "NYC"],
            "price": [10.0],
            "people": [2],
            "outdoor": ["", False],
            "tags": [["quiet", "window"]],
            "size": [{"w": [3]}],
        }
    }
]
GOOD = {"city": "new-york", "price": 10, "people": 2, "tags": ["Quiet", "window"], "size": {"w": 3}}


def verdict(args: dict, category: str = "simple"):
    return check([FN], [{"book": args}], TRUTH, category)


def test_accepts_normalised_strings_int_for_float_and_left_out_optional() -> None:
    result = verdict(GOOD)
    assert result.valid and result.error_type is None and result.partial.score == 1.0
    assert verdict({**GOOD, "city": "NYC", "outdoor": False}).valid


def test_rejects_each_kind_of_mistake() -> None:
    assert verdict({**GOOD, "people": 2.0}).error_type == "type_error:simple"
    assert verdict({**GOOD, "people": True}).error_type == "type_error:simple"
    assert verdict({**GOOD, "people": 3}).error_type == "value_error:others"
    assert verdict({**GOOD, "city": "Boston"}).error_type == "value_error:string"
    assert verdict({**GOOD, "tags": ["window", "quiet"]}).error_type == "value_error:list/tuple"
    assert verdict({**GOOD, "size": {"w": 4}}).error_type == "value_error:dict_value"
    assert verdict({**GOOD, "extra": 1}).error_type == "simple_function_checker:unexpected_param"
    assert (
        verdict({k: v for k, v in GOOD.items() if k != "city"}).error_type == "simple_function_checker:missing_required"
    )
    assert (
        verdict({k: v for k, v in GOOD.items() if k != "price"}).error_type
        == "simple_function_checker:missing_optional"
    )
    assert check([FN], [{"other": GOOD}], TRUTH, "simple").error_type == "simple_function_checker:wrong_func_name"
    assert check([FN], [{"book": GOOD}, {"book": GOOD}], TRUTH, "simple").error_type.endswith("wrong_count")


def test_parallel_calls_match_in_any_order() -> None:
    truth = [{"book": {**TRUTH[0]["book"], "people": [1]}}, TRUTH[0]]
    one, two = {"book": {**GOOD, "people": 1}}, {"book": GOOD}
    assert check([FN], [two, one], truth, "parallel").valid
    assert check([FN], [one, two], truth, "parallel").valid
    assert not check([FN], [two, two], truth, "parallel").valid


def test_irrelevance_wants_no_call() -> None:
    assert check([FN], [], [], "irrelevance", text="No tool here gives the weather.").valid
    assert not check([FN], [{"book": GOOD}], [], "irrelevance", text="Booking it.").valid
    assert check_parsed([FN], parse_text("I can't do that."), [], "irrelevance").valid
    assert not check_parsed([FN], parse_text("I can't do that."), TRUTH, "simple").valid


@pytest.mark.parametrize(
    "answer", ["ies incrementiesradingeledridisco...IS proudies\ufffd...", "sorry sorry sorry sorry sorry sorry"]
)
def test_irrelevance_rejects_garbage_without_a_call(answer) -> None:
    """The exploit from a real round: a model that emits garbage must not earn irrelevance points."""
    result = check_parsed([FN], parse_text(answer), [], "irrelevance")
    assert not result.valid
    assert result.error_type == "irrelevance_error:not_plain_words"


@pytest.mark.parametrize("answer", ["", "   ", "[]", " [] ", "```json\n[]\n```", "I have no tool for that."])
def test_irrelevance_accepts_silence_the_empty_list_and_plain_words(answer) -> None:
    """BFCL's canonical no-call answer is `[]`; an honest model that says nothing or refuses in words is right."""
    assert check_parsed([FN], parse_text(answer), [], "irrelevance").valid
    assert check_parsed([FN], parse_message({"content": answer, "tool_calls": []}), [], "irrelevance").valid
    assert check([FN], [], [], "irrelevance").valid  # no text at all: silent


def test_irrelevance_text_ignores_think_blocks() -> None:
    """Only the answer after reasoning is judged: silence after thinking is silence, garbage is garbage."""
    assert check_parsed([FN], parse_text("<think>the user wants weather</think>"), [], "irrelevance").valid
    garbage = "<think>plain reasoning here</think>ies incrementiesradingeledridisco...IS proudies"
    assert not check_parsed([FN], parse_text(garbage), [], "irrelevance").valid
    assert check_parsed([FN], parse_text("<think>hm</think>I have no weather tool."), [], "irrelevance").valid


def test_partial_credit_orders_answers_by_closeness() -> None:
    wrong_value = verdict({**GOOD, "people": 3}).partial.score
    missing_two = verdict({"city": "NYC", "people": 3}).partial.score
    wrong_name = check([FN], [{"other": GOOD}], TRUTH, "simple").partial.score
    assert 1.0 > wrong_value > missing_two > wrong_name == 0.0
    assert verdict({**GOOD, "people": 3}).score("strict") == 0.0
    assert verdict({**GOOD, "people": 3}).score("partial") == wrong_value


def test_partial_credit_does_not_pay_for_guessing() -> None:
    """The right function with placeholder or default arguments used to earn 0.66; a guess earns nothing now."""
    guesses = (
        {"city": "", "people": 0},
        {"city": "string", "people": 1, "price": 0.0, "tags": [], "size": {}},
        {"city": "Boston", "people": 3, "outdoor": False},  # the default of an optional one is no stated value
    )
    for args in guesses:
        result = verdict(args)
        assert not result.valid and result.partial.score == 0.0, args
    one_right = verdict({"city": "NYC", "people": 3})
    assert 0.0 < one_right.partial.score < 1.0
    parallel_truth = [{"book": {**TRUTH[0]["book"], "people": [5]}}, TRUTH[0]]
    assert check([FN], [{"book": guesses[1]}, {"book": guesses[1]}], parallel_truth, "parallel").partial.score == 0


def test_malformed_inputs_are_invalid_not_errors() -> None:
    assert not check([FN], [{"book": "not a dict"}], TRUTH, "simple").valid
    assert not check([], [{"book": GOOD}], TRUTH, "simple").valid
    assert not check(
        [{"name": "book", "parameters": {"properties": {"city": {"type": "weird"}}}}],
        [{"book": {"city": "x"}}],
        [{"book": {"city": ["x"]}}],
        "simple",
    ).valid


def test_standardize_string_matches_bfcl() -> None:
    assert standardize_string("April 1, 2024") == standardize_string("april 1 2024") == "april12024"
    assert standardize_string("it's") == 'it"s'


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["book", "other"]),
            st.dictionaries(st.sampled_from([*FN["parameters"]["properties"], "zz"]), _json_values),
            min_size=1,
            max_size=1,
        ),
        max_size=3,
    ),
    st.sampled_from(["simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple"]),
)
def test_check_never_raises_and_partial_stays_in_range(calls, category) -> None:
    result = check([FN], calls, TRUTH, category)
    assert 0.0 <= result.partial.score <= 1.0
    assert result.valid == (result.error_type is None)
