"""Build the task set of a round: (seed, family, n, settings) -> the same bytes on every validator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.tasks.config import TasksConfig
from harness.tasks.families import family_names, get_family, task_count
from harness.tasks.taskset import make_task_set, merge_task_sets

if TYPE_CHECKING:
    from harness.feed.tasks import FeedTasks


def build_family(seed: str, family: str, n: int, config: TasksConfig, feed: FeedTasks | None = None) -> dict:
    """One family's set; `feed` (the epoch's task feed) goes to the family that takes feed tasks (tool-call)."""
    source = get_family(family)
    if feed is not None and getattr(source, "takes_feed", False):
        tasks, settings = source.generate(seed, n, config, feed=feed)  # type: ignore[call-arg]
    else:
        tasks, settings = source.generate(seed, n, config)
    numbered = [{"id": f"{source.id_prefix}-{i:04d}", **task} for i, task in enumerate(tasks)]
    return make_task_set(seed, family, settings, numbered)


def build_for_competition(
    seed: str, families: Mapping[str, float], config: TasksConfig, feed: FeedTasks | None = None
) -> dict:
    """All families a competition weighs above zero, in registration order, as one set; `feed` is the epoch's
    task feed as the round read it (None: no feed configured)."""
    parts = [
        build_family(seed, name, task_count(name, config), config, feed)
        for name in family_names()
        if families.get(name, 0) > 0
    ]
    return merge_task_sets(seed, parts)
