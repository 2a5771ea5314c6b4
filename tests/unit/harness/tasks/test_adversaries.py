"""What scripts with no language model earn, measured honestly (issues 9 and 20).

Scores each strategy of tests/support/adversaries.py through the evaluator's own scoring path, strict and partial.
The generated tasks come from public code and a public seed, so a grammar inverter written from that code answers
them: the suite asserts that it does (>= 0.9 strict), so that a weaker attacker is caught as a regression and the
numbers docs/tasks.md quotes stay true. What the baselines earn (placeholders, calling everything, refusing) stays
a sliver. bench/bench_heldout.py measures the same strategies plus the BFCL lookup per source and per round.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from harness.evaluation.run_loop import outcome_from_response
from harness.evaluation.task_scoring import score_each
from harness.tasks import build_family, toolcall_gen
from harness.tasks.config import TasksConfig
from harness.tasks.taskset import rng_for
from scoring.config import ScoringConfig
from tests.support import grammar_inverter
from tests.support.adversaries import STRATEGIES

SEEDS = ("adversary-fresh-a", "adversary-fresh-b")
TASKS_PER_SEED = 1000
CEILING = 0.15
INVERTER_FLOOR = 0.9
"""The inverter scored 1.000 strict on 3,000 generated tasks (three seeds) when it was written; below this it has
regressed, and docs/tasks.md's statement that the public generator gives its tasks away would be unmeasured."""
PARTIAL_GUESS_CEILING = 0.2
"""Partial mode: a guessed first enum value or default is sometimes the stated value (a quarter of the time for a
four-value enum), and irrelevance tasks still pay a silent answer; a guess earned 0.66 of every task before."""


def _score(tasks: list[dict], answers: list[str], mode: str) -> list[float]:
    outcomes = [
        outcome_from_response(t["id"], {"choices": [{"message": {"content": a}}]})
        for t, a in zip(tasks, answers, strict=True)
    ]
    return [r.score for r in score_each(tasks, outcomes, ScoringConfig(toolcall_score=mode))]


def generated(seed: str, n: int) -> list[dict]:
    tasks = toolcall_gen.generate(n, TasksConfig().toolcall_categories, rng_for(seed, "toolcall", "generated"))
    for index, task in enumerate(tasks):
        task["id"] = f"g{index:05d}"
    return tasks


def scoreboard(seeds: tuple[str, ...], n: int, mode: str) -> dict[str, dict[str, float]]:
    """{strategy: {"all": mean, "<source>:<category>": mean, ...}} over fresh task sets of the default mix."""
    tasks = [t for seed in seeds for t in build_family(seed, "toolcall", n, TasksConfig())["tasks"]]
    for index, task in enumerate(tasks):
        task["id"] = f"t{index:05d}"  # two sets number their tasks alike
    board: dict[str, dict[str, float]] = {}
    for name, strategy in STRATEGIES.items():
        groups: dict[str, list[float]] = defaultdict(list)
        for task, score in zip(tasks, _score(tasks, [strategy(t) for t in tasks], mode), strict=True):
            source = "generated" if task["source"] == "generated" else task["source"].split(":")[0]
            groups[f"{source}:{task['category']}"].append(score)
            groups[f"{source}:all"].append(score)
            groups["all"].append(score)
        board[name] = {key: sum(v) / len(v) for key, v in sorted(groups.items())}
    return board


def _print(board: dict[str, dict[str, float]], mode: str) -> None:
    columns = sorted({k for row in board.values() for k in row if k != "all"})
    print(f"\n{mode}: strategy | all | " + " | ".join(columns))
    for name, row in board.items():
        print(f"{name} | {row['all']:.3f} | " + " | ".join(f"{row.get(c, 0):.2f}" for c in columns))


def test_the_inverter_answers_generated_tasks_from_what_a_model_sees() -> None:
    """A few hundred generated tasks: every category answered, and the answer depends only on the functions and
    the conversation (the answer key, source and category removed give the same answer)."""
    tasks = generated("adversary-quick", 300)
    answers = [grammar_inverter.invert(t) for t in tasks]
    blind = [
        grammar_inverter.invert({k: v for k, v in t.items() if k in ("functions", "tools", "messages")}) for t in tasks
    ]
    assert blind == answers
    scores = _score(tasks, answers, "strict")
    assert sum(scores) / len(scores) >= INVERTER_FLOOR
    by_category: dict[str, list[float]] = defaultdict(list)
    for task, score in zip(tasks, scores, strict=True):
        by_category[task["category"]].append(score)
    assert set(by_category) == {"simple", "multiple", "parallel", "parallel_multiple", "irrelevance"}
    assert all(sum(v) / len(v) >= INVERTER_FLOOR for v in by_category.values()), by_category


def test_the_inverter_calls_nothing_it_was_not_offered() -> None:
    """An irrelevance request (an operation or object the offered functions lack) gets no call, and every call it
    makes names an offered function."""
    tasks = generated("adversary-offered", 300)
    for task in tasks:
        calls = grammar_inverter.invert_calls(task)
        assert {c["name"] for c in calls} <= {f["name"] for f in task["functions"]}
        if task["category"] == "irrelevance":
            assert calls == []
        else:
            assert len(calls) == len(task["possible_answer"])


def test_the_inverter_reaches_the_floor_on_2000_generated_tasks() -> None:
    tasks = [t for seed in ("inv-a", "inv-b", "inv-c") for t in generated(seed, 700)]
    for index, task in enumerate(tasks):
        task["id"] = f"g{index:05d}"
    answers = [grammar_inverter.invert(t) for t in tasks]
    for mode in ("strict", "partial"):
        scores = _score(tasks, answers, mode)
        assert sum(scores) / len(scores) >= INVERTER_FLOOR, mode


@pytest.mark.parametrize("mode", ["strict", "partial"])
def test_what_each_script_earns_on_the_default_mix(mode: str) -> None:
    board = scoreboard(SEEDS, TASKS_PER_SEED, mode)
    _print(board, mode)
    assert board["oracle"]["all"] == 1.0, board["oracle"]
    # the public generator gives its tasks away; BFCL-derived tasks are not the inverter's
    assert board["grammar_inverter"]["generated:all"] >= INVERTER_FLOOR, board["grammar_inverter"]
    relevant = [k for k in board["oracle"] if ":" in k and not k.endswith(":all") and "irrelevance" not in k]
    assert all(board["grammar_inverter"][k] == 0.0 for k in relevant if k.startswith("bfcl:"))
    assert board["always_refuse"]["generated:irrelevance"] == 1.0
    assert all(board["always_refuse"][k] == 0.0 for k in relevant)
    # extraction copies values from the text: partial credit, strict credit rarely
    assert board["extract_values"]["all"] <= CEILING or mode == "partial", board["extract_values"]
    if mode == "strict":  # the default: what drives weights
        for name in ("call_everything", "right_function_placeholders", "always_refuse"):
            assert board[name]["all"] <= CEILING, (name, board[name])
        assert all(board["right_function_placeholders"][k] <= 0.1 for k in relevant), board[
            "right_function_placeholders"
        ]
    else:  # partial credit pays for stated values got right, never for guesses (it paid 0.66 a task before)
        assert board["extract_values"]["all"] > board["always_refuse"]["all"], board["extract_values"]
        assert board["right_function_placeholders"]["all"] <= PARTIAL_GUESS_CEILING, board[
            "right_function_placeholders"
        ]
        assert board["call_everything"]["all"] <= CEILING
