"""The answer parser: every common shape decodes, nothing is executed, no input raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.toolcall import parse_message, parse_text, parse_tool_calls


def test_python_list_with_several_calls_and_literals() -> None:
    parsed = parse_text('[get_weather(city="Paris", days=-3), math.hypot(x=1.5, y=[1, 2], z={"a": (1, True)})]')
    assert parsed.format == "python"
    assert parsed.calls == [
        {"get_weather": {"city": "Paris", "days": -3}},
        {"math.hypot": {"x": 1.5, "y": [1, 2], "z": {"a": [1, True]}}},
    ]


def test_single_call_without_brackets_and_bare_names_become_strings() -> None:
    assert parse_text("f(a=None, unit=celsius)").calls == [{"f": {"a": None, "unit": "celsius"}}]


def test_json_shapes() -> None:
    expected = [{"f": {"a": 1}}]
    for text in (
        '{"name": "f", "arguments": {"a": 1}}',
        '[{"name": "f", "parameters": {"a": 1}}]',
        '{"name": "f", "arguments": "{\\"a\\": 1}"}',
        '{"f": {"a": 1}}',
        '{"tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}',
    ):
        parsed = parse_text(text)
        assert parsed.calls == expected, text
        assert parsed.format == "json"


def test_wrappers_and_prose() -> None:
    expected = [{"f": {"a": 1}}]
    assert parse_text('```json\n{"name": "f", "arguments": {"a": 1}}\n```').calls == expected
    assert parse_text("Sure!\n```python\n[f(a=1)]\n```\nDone.").calls == expected
    assert parse_text('<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>').calls == expected
    assert parse_text("Here you go: [f(a=1)]").calls == expected
    assert parse_text("<|python_tag|>f(a=1)").calls == expected
    assert parse_text("<think>maybe [g(b=2)]?</think>\n[f(a=1)]").calls == expected
    two = parse_text(
        '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>'
        '<tool_call>{"name": "g", "arguments": {}}</tool_call>'
    )
    assert two.calls == [{"f": {"a": 1}}, {"g": {}}]


def test_native_tool_calls_win_and_bad_arguments_are_reported() -> None:
    native = [{"type": "function", "function": {"name": "f", "arguments": '{"a": 2}'}}]
    parsed = parse_tool_calls("[g(b=1)]", native)
    assert parsed.format == "native" and parsed.calls == [{"f": {"a": 2}}]
    bad = parse_tool_calls(None, [{"function": {"name": "f", "arguments": "{not json"}}])
    assert not bad.decoded and "not JSON" in (bad.error or "")
    assert parse_message({"role": "assistant", "content": None, "tool_calls": native}).calls == [{"f": {"a": 2}}]


def test_plain_answers_are_no_calls() -> None:
    for text in ("", "The capital is Ulaanbaatar.", "[1, 2, 3]", "print('x')", "f(1, 2)", "{}"):
        parsed = parse_text(text)
        assert parsed.calls == [] and not parsed.decoded, text


def test_nothing_is_executed(tmp_path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"[f(a=__import__('os').system('touch {marker}'))]"
    parsed = parse_text(hostile)
    assert not marker.exists()
    assert parsed.calls == []
    assert parse_text("[f(a=(lambda: 1)())]").calls == []


def test_huge_and_deeply_nested_inputs_do_not_raise() -> None:
    assert parse_text("[" * 100_000).calls == []
    assert parse_text("f(a=" + "[" * 5000 + "]" * 5000 + ")").decoded in (True, False)
    assert parse_text("x" * 1_000_000).calls == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_yields_a_result(text: str) -> None:
    parsed = parse_text(text)
    assert isinstance(parsed.calls, list)
    assert all(isinstance(c, dict) and len(c) == 1 for c in parsed.calls)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.dictionaries(st.text(), st.text()))), st.text())
def test_any_message_shape_yields_a_result(tool_calls, content) -> None:
    parsed = parse_tool_calls(content, tool_calls)
    assert isinstance(parsed.calls, list)


_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,6})?", fullmatch=True)
_scalars = st.one_of(
    st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_calls = st.lists(
    st.tuples(_names, st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), _values, max_size=4)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(_calls)
def test_python_and_json_renderings_round_trip(calls) -> None:
    keywords = {"if", "in", "is", "or", "as", "def", "for", "not", "and", "del", "try", "None", "True", "False"}
    calls = [(n, a) for n, a in calls if not any(part in keywords for part in n.split("."))]
    calls = [(n, {k: v for k, v in a.items() if k not in keywords}) for n, a in calls]
    if not calls:
        return
    expected = [{n: a} for n, a in calls]
    python = "[" + ", ".join(f"{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for n, a in calls) + "]"
    assert parse_text(python).calls == expected
    as_json = json.dumps([{"name": n, "arguments": a} for n, a in calls])
    assert parse_text(as_json).calls == expected
