"""A script with no language understanding must not earn what an honest model earns (issue 9).

Scores each strategy of tests/support/adversaries.py on fresh tasks of the default mix (perturbed BFCL plus generated)
through the evaluator's own scoring path, strict and partial, and prints the per-category table that
docs/tasks.md quotes. Pure Python, no model: seconds.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from harness.evaluation.run_loop import outcome_from_response
from harness.evaluation.task_scoring import score_each
from harness.tasks import build_family
from harness.tasks.config import TasksConfig
from scoring.config import ScoringConfig
from tests.support.adversaries import STRATEGIES

SEEDS = ("adversary-fresh-a", "adversary-fresh-b")
TASKS_PER_SEED = 1000
CEILING = 0.15
PARTIAL_GUESS_CEILING = 0.2
"""Partial mode: a guessed first enum value or default is sometimes the stated value (a quarter of the time for a
four-value enum), and irrelevance tasks still pay a silent answer; a guess earned 0.66 of every task before."""


def scoreboard(seeds: tuple[str, ...], n: int, mode: str) -> dict[str, dict[str, float]]:
    """{strategy: {"all": mean, "<source>:<category>": mean, ...}} over fresh task sets of the default mix."""
    tasks = [t for seed in seeds for t in build_family(seed, "toolcall", n, TasksConfig())["tasks"]]
    for index, task in enumerate(tasks):
        task["id"] = f"t{index:05d}"  # two sets number their tasks alike
    board: dict[str, dict[str, float]] = {}
    for name, strategy in STRATEGIES.items():
        outcomes = [outcome_from_response(t["id"], {"choices": [{"message": {"content": strategy(t)}}]}) for t in tasks]
        results = score_each(tasks, outcomes, ScoringConfig(toolcall_score=mode))
        groups: dict[str, list[float]] = defaultdict(list)
        for task, result in zip(tasks, results, strict=True):
            source = "generated" if task["source"] == "generated" else task["source"].split(":")[0]
            groups[f"{source}:{task['category']}"].append(result.score)
            groups["all"].append(result.score)
        board[name] = {key: sum(v) / len(v) for key, v in sorted(groups.items())}
    return board


def _print(board: dict[str, dict[str, float]], mode: str) -> None:
    columns = sorted({k for row in board.values() for k in row if k != "all"})
    print(f"\n{mode}: strategy | all | " + " | ".join(columns))
    for name, row in board.items():
        print(f"{name} | {row['all']:.3f} | " + " | ".join(f"{row.get(c, 0):.2f}" for c in columns))


@pytest.mark.parametrize("mode", ["strict", "partial"])
def test_no_script_earns_more_than_a_sliver(mode: str) -> None:
    board = scoreboard(SEEDS, TASKS_PER_SEED, mode)
    _print(board, mode)
    assert board["oracle"]["all"] == 1.0, board["oracle"]
    if mode == "strict":  # the default: what drives weights
        for name, row in board.items():
            if name != "oracle":
                assert row["all"] <= CEILING, (name, row)
    else:  # partial credit pays for stated values got right, never for guesses (it paid 0.66 a task before)
        assert board["right_function_placeholders"]["all"] <= PARTIAL_GUESS_CEILING, board[
            "right_function_placeholders"
        ]
        assert board["call_everything"]["all"] <= CEILING
    # what each strategy was written to exploit, it gets; everything else it does not
    assert board["always_refuse"]["generated:irrelevance"] == 1.0
    assert board["invert_templates"]["generated:irrelevance"] == 1.0
    relevant = [k for k in board["invert_templates"] if k != "all" and "irrelevance" not in k]
    assert all(board["always_refuse"][k] == 0.0 for k in relevant)
    assert all(board["invert_templates"][k] == 0.0 for k in relevant if not k.startswith("generated"))
    if mode == "strict":
        assert all(board["right_function_placeholders"][k] <= 0.1 for k in relevant), board[
            "right_function_placeholders"
        ]
