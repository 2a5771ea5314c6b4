"""How far a BFCL lookup miner gets on perturbed BFCL tasks (issue 20), through the validator's own scoring.

The lookup (tests/support/bfcl_lookup.py) finds each task's public source entry and maps its answer key onto
the task. Two strengths:
- `described`: the attack as issue 20 measured it (parameters by position, numbers by the order of the number
  literals, every other value copied from the key): it scored 1.000 before values, descriptions and parameter
  order were re-sampled, and must stay at or below 0.3 now;
- `adaptive`: parameters by words and types, every stated value read from a token diff of the source question
  against the task's. No perturbation of public text can hide what changed from a diff, so this one still reads
  most tasks: the held-out feed, not the perturbation, is what stops it (docs/tasks.md quotes both numbers).

Both must score at least 0.9 where the defence is absent (the unperturbed entries), so neither passes vacuously.
"""

from __future__ import annotations

import random

import pytest

from harness.tasks import bfcl
from harness.tasks.config import DEFAULT_BFCL_CATEGORIES
from tests.support.bfcl_lookup import described_lookup_answer, lookup_answer, scoreboard
from tests.support.bfcl_support import bfcl_data_dir

N_TASKS = 300
DESCRIBED_CEILING = 0.3
WORKS_WITHOUT_DEFENCE = 0.9
ADAPTIVE_FLOOR = 0.8
"""What the adaptive lookup still reads on perturbed tasks; if a new defence pushes it below this, good news:
lower the floor and the numbers in docs/tasks.md together."""


@pytest.fixture(scope="module")
def perturbed() -> list[dict]:
    return bfcl.sample(bfcl_data_dir(), DEFAULT_BFCL_CATEGORIES, N_TASKS, random.Random("bfcl-lookup-test"))


@pytest.fixture(scope="module")
def unperturbed(perturbed: list[dict]) -> list[dict]:
    """The same source entries as `perturbed`, as they are published."""
    data = bfcl_data_dir()
    by_source = {e["source"]: e for c in sorted(DEFAULT_BFCL_CATEGORIES) for e in bfcl.sampled_entries(data, c)}
    return [bfcl.to_task(by_source[t["source"]]) for t in perturbed]


def test_the_described_lookup_fails_on_perturbed_tasks(perturbed: list[dict], unperturbed: list[dict]) -> None:
    without = scoreboard(unperturbed, described_lookup_answer)["strict"]
    assert without["all"] >= WORKS_WITHOUT_DEFENCE, without
    boards = scoreboard(perturbed, described_lookup_answer)
    print(f"\ndescribed lookup: unperturbed {without['all']:.3f}, perturbed {boards}")
    assert boards["strict"]["all"] <= DESCRIBED_CEILING, boards["strict"]


def test_a_diff_aligning_lookup_still_reads_perturbed_tasks(perturbed: list[dict], unperturbed: list[dict]) -> None:
    without = scoreboard(unperturbed, lookup_answer)["strict"]
    assert without["all"] >= WORKS_WITHOUT_DEFENCE, without
    boards = scoreboard(perturbed, lookup_answer)
    print(f"\nadaptive lookup: unperturbed {without['all']:.3f}, perturbed {boards}")
    assert boards["strict"]["all"] >= ADAPTIVE_FLOOR, boards["strict"]
