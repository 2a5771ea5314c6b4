"""Build the task set of a round: (seed, family, n, settings) -> the same bytes on every validator."""

from __future__ import annotations

from collections.abc import Mapping

from harness.tasks.config import TasksConfig
from harness.tasks.families import family_names, get_family, task_count
from harness.tasks.taskset import make_task_set, merge_task_sets


def build_family(seed: str, family: str, n: int, config: TasksConfig) -> dict:
    source = get_family(family)
    tasks, settings = source.generate(seed, n, config)
    numbered = [{"id": f"{source.id_prefix}-{i:04d}", **task} for i, task in enumerate(tasks)]
    return make_task_set(seed, family, settings, numbered)


def build_for_competition(seed: str, families: Mapping[str, float], config: TasksConfig) -> dict:
    """All families a competition weighs above zero, in registration order, as one set."""
    parts = [
        build_family(seed, name, task_count(name, config), config)
        for name in family_names()
        if families.get(name, 0) > 0
    ]
    return merge_task_sets(seed, parts)
