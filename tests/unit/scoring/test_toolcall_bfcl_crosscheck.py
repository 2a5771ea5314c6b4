"""Our checker must give BFCL's verdict on BFCL's own data: the ground truth and many perturbed calls."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from scoring.toolcall import check
from tests.support.bfcl_support import (
    PYTHON_CATEGORIES,
    bfcl_data_dir,
    calls_from_truth,
    load_category,
    real_ast_checker,
)


def _retype(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else str(value)
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return list(value.values())
    return "x"


def _change(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 1.0
    if isinstance(value, str):
        return value + " elsewhere"
    if isinstance(value, list):
        return [*value, value[0]] if value else ["extra"]
    if isinstance(value, dict):
        return {k: _change(v) for k, v in value.items()} if value else {"k": 1}
    return value


def _variants(calls: list[dict], rng: random.Random) -> list[tuple[str, list[dict]]]:
    out = [("truth", calls)]
    if not calls:
        return out
    i = rng.randrange(len(calls))
    ((name, args),) = calls[i].items()
    params = sorted(args)

    def with_args(new_args: dict, new_name: str | None = None) -> list[dict]:
        changed = copy.deepcopy(calls)
        changed[i] = {new_name or name: new_args}
        return changed

    out.append(("wrong-name", with_args(args, name + "_v2")))
    out.append(("extra-param", with_args({**args, "unexpected_zz": 1})))
    out.append(("no-calls", []))
    out.append(("extra-call", [*calls, copy.deepcopy(calls[i])]))
    if len(calls) > 1:
        out.append(("reordered", list(reversed(calls))))
        out.append(("shuffled", rng.sample(calls, len(calls))))
        out.append(("missing-call", calls[:-1]))
    for param in params:
        value = args[param]
        out.append((f"missing:{param}", with_args({k: v for k, v in args.items() if k != param})))
        out.append((f"retyped:{param}", with_args({**args, param: _retype(value)})))
        out.append((f"changed:{param}", with_args({**args, param: _change(value)})))
        if isinstance(value, str) and value:
            out.append((f"case:{param}", with_args({**args, param: value.upper() + " "})))
        if isinstance(value, float) and value.is_integer():
            out.append((f"int-for-float:{param}", with_args({**args, param: int(value)})))
        if isinstance(value, list) and len(value) > 1:
            out.append((f"list-reversed:{param}", with_args({**args, param: list(reversed(value))})))
    return out


@pytest.mark.parametrize("category", PYTHON_CATEGORIES)
def test_verdicts_agree_with_bfcl(category: str) -> None:
    bfcl_check, language = real_ast_checker()
    rng = random.Random(category)
    cases = disagreements = truth_valid = 0
    examples = []
    for question, truth in load_category(category):
        functions = question["function"]
        for pick in (0, 1, -1):
            for label, calls in _variants(calls_from_truth(truth, pick), rng):
                theirs = bfcl_check(functions, copy.deepcopy(calls), truth, language.PYTHON, category, "harness-model")
                ours = check(functions, copy.deepcopy(calls), truth, category)
                cases += 1
                truth_valid += label == "truth" and ours.valid
                if ours.valid != theirs["valid"]:
                    disagreements += 1
                    if len(examples) < 5:
                        examples.append((question["id"], label, calls, theirs, ours))
    assert disagreements == 0, examples
    assert cases > 500 or category.startswith("live_parallel")
    assert truth_valid > 0


@pytest.mark.parametrize("source", ["generated", "perturbed-bfcl"])
def test_verdicts_agree_on_generated_and_perturbed_tasks(source: str) -> None:
    """Generated tasks use BFCL's schema dialect, and perturbed BFCL entries (renamed, shuffled, distractors,
    re-sampled values) keep it, so BFCL's checker judges both; ours must give the same verdicts."""
    from harness.tasks import build_family
    from harness.tasks.config import TasksConfig

    bfcl_check, language = real_ast_checker()
    config = TasksConfig(bfcl_fraction=0.0 if source == "generated" else 1.0)
    task_set = build_family("crosscheck", "toolcall", 150 if source == "generated" else 400, config)
    rng = random.Random(1)
    cases = truth_valid = 0
    for task in task_set["tasks"]:
        if "irrelevance" in task["category"]:
            continue
        category, truth = task["category"], task["possible_answer"]
        for pick in (0, 1, -1):
            for label, calls in _variants(calls_from_truth(truth, pick), rng):
                theirs = bfcl_check(task["functions"], copy.deepcopy(calls), truth, language.PYTHON, category, "m")
                ours = check(task["functions"], copy.deepcopy(calls), truth, category)
                assert ours.valid == theirs["valid"], (task["id"], label, calls, theirs)
                cases += 1
                truth_valid += label == "truth" and ours.valid
    relevant = [t for t in task_set["tasks"] if "irrelevance" not in t["category"]]
    assert cases > 1000
    if source == "generated":
        assert truth_valid == 3 * len(relevant)
    else:
        assert truth_valid >= 3 * len(relevant) - 10  # other alternatives of a few BFCL keys fail BFCL's checker
        assert sum(t["perturbed"] for t in task_set["tasks"]) >= len(task_set["tasks"]) - 3


def _irrelevance_cases(functions: list[dict]) -> list[tuple[str, list[dict], str]]:
    name = functions[0]["name"] if functions and isinstance(functions[0], dict) else "f"
    return [
        ("no-call-prose", [], "I cannot answer that with the tools I have."),
        ("empty-call", [{}], "None of these functions fit the question."),
        ("a-call", [{name: {}}], "Calling it anyway."),
        ("two-calls", [{name: {}}, {name: {}}], ""),
    ]


@pytest.mark.parametrize("category", ["irrelevance", "live_irrelevance", "generated"])
def test_irrelevance_agrees_with_bfcl_given_a_plain_words_answer(category: str) -> None:
    """BFCL's irrelevance verdict is `is_empty_output(decoded)` in its runner; BFCL has no answer text, so every
    case here supplies plain words: then we agree. The one deliberate difference (no call but garbage or empty
    text is valid in BFCL, invalid here) is asserted separately below."""
    from bfcl_eval.utils import is_empty_output

    if category == "generated":
        from harness.tasks import build_family
        from harness.tasks.config import TasksConfig

        tasks = build_family("crosscheck", "toolcall", 300, TasksConfig(bfcl_fraction=0.0))["tasks"]
        questions = [t["functions"] for t in tasks if t["category"] == "irrelevance"]
    else:
        path = bfcl_data_dir() / f"BFCL_v4_{category}.json"
        questions = [json.loads(line)["function"] for line in path.read_text().splitlines() if line]
    cases = 0
    for functions in questions:
        for label, calls, text in _irrelevance_cases(functions):
            ours = check(functions, copy.deepcopy(calls), [], "irrelevance", text)
            theirs = is_empty_output(copy.deepcopy(calls))
            if label == "two-calls":  # empty text, but a call was made: both reject it for the call
                assert not ours.valid and ours.error_type == "irrelevance_error:decoder_success"
            assert ours.valid == theirs, (label, calls)
            cases += 1
    assert cases >= 40


def test_irrelevance_deliberate_difference_from_bfcl() -> None:
    from bfcl_eval.utils import is_empty_output

    for garbage in ("ies incrementiesradingeledridisco...IS proudies\ufffd...", "ok ok ok ok ok ok ok"):
        assert is_empty_output([])  # BFCL: no call decoded, so the answer is right whatever the text
        assert not check([{"name": "f", "parameters": {}}], [], [], "irrelevance", garbage).valid
