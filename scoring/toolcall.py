"""Tool-call scoring with the semantics of BFCL's AST checker, plus a partial-credit breakdown.

A validator must rank models the way the public benchmark does, or miners optimise for one thing and get paid
for another; so `check` reproduces BFCL's verdicts (cross-checked on BFCL's own data in
tests/unit/scoring/test_toolcall_bfcl_crosscheck.py). The few deliberate differences are where BFCL would
crash or cannot apply:
- JSON-schema type names (`number`, `object`) are accepted as aliases of BFCL's `float`, `dict`;
  an unknown type name, a missing function description, or a non-dict inside a list of dicts is an invalid
  call here (BFCL raises).
- Function names are compared as given (BFCL may map `.` to `_` for some API models; our models answer with
  the names we sent).
- Matching of parallel calls is BFCL's greedy first-fit, kept on purpose so verdicts agree.
- Irrelevance (no tool fits, so no call is right): BFCL only checks that no call decodes. Here an answer
  without a call is right when it is silent (empty text, or BFCL's canonical no-call answer `[]`) or plain
  words (`scoring.text_quality`); an answer that is text but not words (gibberish, a token loop, replacement
  characters) is wrong, so a broken model does not collect irrelevance points by emitting garbage.
  `check` therefore takes the answer's `text` (default: empty, i.e. silent).

Partial credit (`CheckResult.partial`) gives a smoother signal than pass/fail: per expected call, the name,
the share of needed arguments present (unknown ones count against it), and the share of given values accepted.
It does not pay for guessing: a call earns partial credit only when at least one argument the request states
(one whose ground truth is not optional) has an accepted value; the right function with placeholder, default
or first-enum arguments earns 0. Which of the two drives weights is the `scoring.toolcall_score` setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scoring.text_quality import plain_words_problem
from scoring.toolcall_parse import Call, ParsedCalls, parse_message, parse_text, parse_tool_calls

__all__ = [
    "Call",
    "CheckResult",
    "ParsedCalls",
    "Partial",
    "check",
    "check_parsed",
    "is_silent",
    "parse_message",
    "parse_text",
    "parse_tool_calls",
    "standardize_string",
]

_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": str,
}
_NESTED = ("array", "tuple")
_STRIP = str.maketrans("", "", " ,./-_*^")

# Weights of the three partial-credit parts; values dominate because they are what the user asked for.
W_NAME, W_ARGS, W_VALUES = 0.2, 0.3, 0.5


@dataclass(frozen=True)
class Partial:
    name: float = 0.0
    args_present: float = 0.0
    values: float = 0.0
    score: float = 0.0


@dataclass(frozen=True)
class CheckResult:
    valid: bool
    error_type: str | None = None
    errors: list[str] = field(default_factory=list)
    partial: Partial = field(default_factory=Partial)

    def score(self, mode: str = "strict") -> float:
        return (1.0 if self.valid else 0.0) if mode == "strict" else self.partial.score


@dataclass(frozen=True)
class _Verdict:
    ok: bool
    error_type: str = ""
    message: str = ""


_OK = _Verdict(True)


def standardize_string(text: str) -> str:
    """BFCL's string normalisation: drop spaces and `,./-_*^`, lower-case, single quotes to double."""
    return text.translate(_STRIP).lower().replace("'", '"')


def is_silent(text: object) -> bool:
    """An answer that says nothing: no text, blank text, or an empty call list (BFCL's canonical no-call)."""
    return text is None or (isinstance(text, str) and text.strip() in ("", "[]"))


def _std(value: Any) -> Any:
    return standardize_string(value) if type(value) is str else value


def _answer_type(alternatives: list) -> type | None:
    for alt in alternatives:
        if alt != "":
            return type(alt)
    return None


def _type_check(value: Any, alternatives: list, expected: type, nested: type | None) -> tuple[_Verdict, bool]:
    """Returns (verdict, is_variable). A value of the answer's type where the schema says otherwise is a
    'variable' (BFCL's term): accepted, then compared by plain equality."""
    answer_type = _answer_type(alternatives)
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if nested is None:
            return _OK, is_variable
        for alt in alternatives:
            if type(alt) is not list or all(_type_check(item, alt, nested, None)[0].ok for item in value):
                return _OK, is_variable
        if answer_type is not None and type(value) is answer_type:
            return _Verdict(False, "type_error:nested", "nested type check failed"), True
    elif answer_type is not None and type(value) is answer_type:
        return _OK, True
    return _Verdict(False, "type_error:simple", f"expected {expected.__name__}, got {type(value).__name__}"), False


def _check_string(value: str, alternatives: list) -> _Verdict:
    if standardize_string(value) in [standardize_string(a) for a in alternatives if type(a) is str]:
        return _OK
    return _Verdict(False, "value_error:string", f"{value!r} not in {alternatives!r}")


def _check_list(value: list, alternatives: list) -> _Verdict:
    mine = [_std(v) for v in value]
    for alt in alternatives:
        if not hasattr(alt, "__iter__") or isinstance(alt, dict):
            continue
        if mine == [_std(a) for a in alt]:
            return _OK
    return _Verdict(False, "value_error:list/tuple", f"{value!r} not in {alternatives!r}")


def _check_dict(value: Any, alternatives: list) -> _Verdict:
    verdict = _Verdict(False, "dict_checker:unclear", "no dict alternative")
    if not isinstance(value, dict):
        return _Verdict(False, "value_error:dict_value", "not a dict")
    for alt in alternatives:
        if alt == "" or not isinstance(alt, dict):
            continue
        ok = True
        for key, item in value.items():
            if key not in alt:
                verdict, ok = _Verdict(False, "value_error:dict_key", f"unexpected key {key!r}"), False
                break
            choices = alt[key] if isinstance(alt[key], list | str) else [alt[key]]
            if _std(item) not in [_std(c) for c in choices]:
                verdict, ok = _Verdict(False, "value_error:dict_value", f"{key!r}: {item!r}"), False
                break
        for key, choices in alt.items():
            if key not in value and "" not in choices:
                verdict, ok = _Verdict(False, "value_error:dict_key", f"missing key {key!r}"), False
                break
        if ok:
            return _OK
    return verdict


def _check_list_of_dicts(value: list, alternatives: list) -> _Verdict:
    verdict = _Verdict(False, "list_dict_checker:unclear", "no alternative")
    for alt in alternatives:
        if not hasattr(alt, "__len__") or len(value) != len(alt):
            verdict = _Verdict(False, "value_error:list_dict_count", "wrong number of dicts")
            continue
        ok = True
        for item, expected in zip(value, alt, strict=True):
            verdict = _check_dict(item, [expected])
            if not verdict.ok:
                ok = False
                break
        if ok:
            return _OK
    return verdict


def _check_param(value: Any, spec: dict, alternatives: list) -> _Verdict:
    """One argument against its schema and its accepted alternatives."""
    type_name = spec.get("type") if isinstance(spec, dict) else None
    expected = _TYPES.get(type_name) if isinstance(type_name, str) else None
    if expected is None:
        return _Verdict(False, "type_error:unknown_schema_type", f"unknown schema type {type_name!r}")
    nested = None
    if type_name in _NESTED:
        items = spec.get("items")
        item_type = items.get("type") if isinstance(items, dict) else None
        nested = _TYPES.get(item_type) if isinstance(item_type, str) else None
    if expected is float and type(value) is int:
        value = float(value)
    verdict, is_variable = _type_check(value, alternatives, expected, nested)
    if not verdict.ok:
        return verdict
    if not is_variable:
        if expected is dict:
            return _check_dict(value, alternatives)
        if expected is list and nested is dict:
            return _check_list_of_dicts(value, alternatives)
        if expected is str:
            return _check_string(value, alternatives)
        if expected is list:
            return _check_list(value, alternatives)
    if value not in alternatives:
        return _Verdict(False, "value_error:others", f"{value!r} not in {alternatives!r}")
    return _OK


def _params_of(function: dict) -> tuple[dict, list]:
    params = function.get("parameters") if isinstance(function, dict) else None
    params = params if isinstance(params, dict) else {}
    props = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    required = params.get("required") if isinstance(params.get("required"), list) else []
    return props, required


def _check_one(function: dict | None, call: Call, expected: dict) -> _Verdict:
    """One call against one ground-truth entry `{name: {param: [alternatives]}}`."""
    if not isinstance(function, dict) or not isinstance(expected, dict) or not expected:
        return _Verdict(False, "simple_function_checker:no_description", "no function description")
    answer = next(iter(expected.values()))
    name = function.get("name")
    if name not in call:
        return _Verdict(False, "simple_function_checker:wrong_func_name", f"function {name!r} not called")
    args = call[name]
    props, required = _params_of(function)
    for param in required:
        if param not in args:
            return _Verdict(False, "simple_function_checker:missing_required", f"missing {param!r}")
    for param, value in args.items():
        if param not in props or param not in answer:
            return _Verdict(False, "simple_function_checker:unexpected_param", f"unexpected {param!r}")
        verdict = _check_param(value, props[param], answer[param])
        if not verdict.ok:
            return verdict
    for param, alternatives in answer.items():
        if param not in args and "" not in alternatives:
            return _Verdict(False, "simple_function_checker:missing_optional", f"missing {param!r}")
    return _OK


def _find(functions: list, name: str) -> dict | None:
    for function in functions:
        if isinstance(function, dict) and function.get("name") == name:
            return function
    return None


def _well_formed(calls: Any) -> bool:
    return isinstance(calls, list) and all(
        isinstance(c, dict) and len(c) == 1 and isinstance(next(iter(c.values())), dict) for c in calls
    )


def _strict(functions: list, calls: list[Call], answers: list, category: str, text: str) -> _Verdict:
    if "irrelevance" in category:
        empty = not calls or (len(calls) == 1 and not calls[0])
        if not empty:
            return _Verdict(False, "irrelevance_error:decoder_success", "called a tool")
        problem = None if is_silent(text) else plain_words_problem(text)
        if problem is not None:
            return _Verdict(False, "irrelevance_error:not_plain_words", f"answer is not plain words: {problem}")
        return _OK
    if "relevance" in category:
        return _OK if calls else _Verdict(False, "relevance_error:decoder_failed", "no call")
    if not _well_formed(calls):
        return _Verdict(False, "ast_decoder:decoder_wrong_output_format", "calls are not [{name: {args}}]")
    if "parallel" in category:
        if len(calls) != len(answers):
            return _Verdict(False, "parallel_function_checker_no_order:wrong_count", "wrong number of calls")
        matched: set[int] = set()
        for expected in answers:
            function = _find(functions, next(iter(expected), ""))
            for index, call in enumerate(calls):
                if index not in matched and _check_one(function, call, expected).ok:
                    matched.add(index)
                    break
            else:
                return _Verdict(False, "parallel_function_checker_no_order:cannot_find_match", "unmatched call")
        return _OK
    if "multiple" in category:
        if len(calls) != len(answers) or not answers:
            return _Verdict(False, "multiple_function_checker:wrong_count", "wrong number of calls")
        return _check_one(_find(functions, next(iter(answers[0]), "")), calls[0], answers[0])
    if len(calls) != 1 or not answers:
        return _Verdict(False, "simple_function_checker:wrong_count", "wrong number of calls")
    return _check_one(functions[0] if functions else None, calls[0], answers[0])


def _partial_one(function: dict | None, call: Call, expected: dict) -> Partial:
    name = next(iter(expected), None)
    if function is None or name not in call or not isinstance(call[name], dict):
        return Partial()
    args = call[name]
    answer = expected[name] if isinstance(expected[name], dict) else {}
    props, _required = _params_of(function)
    needed = [p for p, alts in answer.items() if "" not in alts]
    unknown = [p for p in args if p not in answer or p not in props]
    present = sum(1 for p in needed if p in args)
    args_share = present / (len(needed) + len(unknown)) if needed or unknown else 1.0
    judged = [p for p in args if p in answer and p in props]
    good = sum(1 for p in judged if _check_param(args[p], props[p], answer[p]).ok)
    considered = set(judged) | set(needed)
    values_share = good / len(considered) if considered else 1.0
    if needed and not any(p in args and _check_param(args[p], props[p], answer[p]).ok for p in needed if p in props):
        return Partial(1.0, args_share, values_share, 0.0)  # no stated value right: a guess, not partly right
    score = W_NAME + W_ARGS * args_share + W_VALUES * values_share
    return Partial(1.0, args_share, values_share, score)


def _partial(functions: list, calls: list[Call], answers: list, category: str, valid: bool) -> Partial:
    if valid:
        return Partial(1.0, 1.0, 1.0, 1.0)
    if "irrelevance" in category or "relevance" in category or not _well_formed(calls):
        return Partial()
    parts: list[Partial] = []
    used: set[int] = set()
    for expected in answers:
        function = _find(functions, next(iter(expected), ""))
        best, best_index = Partial(), None
        for index, call in enumerate(calls):
            if index in used:
                continue
            candidate = _partial_one(function, call, expected)
            if candidate.score > best.score:
                best, best_index = candidate, index
        if best_index is not None:
            used.add(best_index)
        parts.append(best)
    denominator = max(len(answers), len(calls)) or 1
    return Partial(
        name=sum(p.name for p in parts) / denominator,
        args_present=sum(p.args_present for p in parts) / denominator,
        values=sum(p.values for p in parts) / denominator,
        score=sum(p.score for p in parts) / denominator,
    )


def check(
    functions: list[dict], calls: list[Call], possible_answer: list[dict], category: str, text: str = ""
) -> CheckResult:
    """Judge decoded `calls` against BFCL's ground-truth form; `category` is a BFCL python category name.

    `text` is the answer's prose, judged only where no call is right (irrelevance): silent or plain words."""
    functions = functions if isinstance(functions, list) else [functions]
    answers = possible_answer if isinstance(possible_answer, list) else []
    try:
        verdict = _strict(functions, calls, answers, category, text)
        partial = _partial(functions, calls, answers, category, verdict.ok)
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:  # malformed ground truth
        verdict, partial = _Verdict(False, "checker_error", f"{type(exc).__name__}: {exc}"), Partial()
    return CheckResult(
        verdict.ok, None if verdict.ok else verdict.error_type, [verdict.message] if verdict.message else [], partial
    )


def check_parsed(functions: list[dict], parsed: ParsedCalls, possible_answer: list[dict], category: str) -> CheckResult:
    """Like BFCL's runner: an answer that does not decode is wrong, except where no call is the right answer
    (and then its text must be silent or plain words)."""
    if not parsed.decoded and "irrelevance" not in category:
        return CheckResult(False, "ast_decoder:decoder_failed", [parsed.error or "no tool call"])
    return check(functions, parsed.calls, possible_answer, category, parsed.text)
