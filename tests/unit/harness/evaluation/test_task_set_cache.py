"""A round's task set is built once per (competition, seed, feed), not once per model; the cache is bounded."""

from __future__ import annotations

import threading

from harness.evaluation.stage import CompetitionTaskSet, SandboxEvaluateStage, TaskSetCache, feed_identity
from harness.feed.tasks import FeedTasks
from harness.settings.root import Settings
from harness.tasks.build import build_for_competition


def _stage() -> SandboxEvaluateStage:
    return SandboxEvaluateStage(Settings(tasks={"toolcall_n": 3, "caption_n": 2}))


def test_every_model_of_a_round_gets_the_one_set_built_for_it() -> None:
    stage = _stage()
    first = stage.task_set("any2any", "round-seed")
    for _model in range(5):
        assert stage.task_set("any2any", "round-seed") is first
    assert stage._task_sets.builds == 1
    # The cached set is the set the seed defines: the same bytes a fresh build gives.
    config = stage.settings.competitions["any2any"]
    assert first.task_set == build_for_competition("round-seed", config.families, stage.settings.tasks, None)


def test_another_seed_competition_or_feed_is_another_set() -> None:
    stage = _stage()
    base = stage.task_set("any2any", "s1")
    assert stage.task_set("any2any", "s2") is not base
    assert stage.task_set("toolcall", "s1") is not base
    failed = FeedTasks.failed(7, "unreachable", "no batch")
    with_feed = stage.task_set("any2any", "s1", failed)
    assert with_feed is not base
    # A feed is recognised by what it holds, not by the object: a Ray worker gets its own unpickled copy.
    assert stage.task_set("any2any", "s1", FeedTasks.failed(7, "unreachable", "no batch")) is with_feed
    assert stage._task_sets.builds == 4


def test_feed_identity_follows_its_entries() -> None:
    entry = {"functions": [], "conversation": [], "answer": [], "category": "simple", "source": "feed:1"}
    one = FeedTasks(epoch=3, entries=(entry,), batch_sha256="ab")
    same = FeedTasks(epoch=3, entries=(dict(entry),), batch_sha256="ab")
    other = FeedTasks(epoch=3, entries=({**entry, "source": "feed:2"},), batch_sha256="ab")
    assert feed_identity(one) == feed_identity(same) != feed_identity(other)
    assert feed_identity(None) is None


def test_the_cache_is_bounded_and_drops_the_oldest() -> None:
    cache = TaskSetCache(size=2)

    def build(seed: str):
        return lambda: CompetitionTaskSet("c", {"seed": seed, "tasks": []}, {})

    a = cache.get(("c", "a", None), build("a"))
    cache.get(("c", "b", None), build("b"))
    assert cache.get(("c", "a", None), build("a")) is a  # a is now the most recent
    cache.get(("c", "c", None), build("c"))  # evicts b
    assert cache.builds == 3
    assert cache.get(("c", "a", None), build("a")) is a
    cache.get(("c", "b", None), build("b"))
    assert cache.builds == 4 and len(cache._entries) == 2


def test_models_evaluated_at_once_share_one_build() -> None:
    """Slots evaluate models in parallel threads: the first to ask builds, the others wait for that set."""
    stage = _stage()
    got: list[CompetitionTaskSet] = []
    threads = [threading.Thread(target=lambda: got.append(stage.task_set("any2any", "par"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(item is got[0] for item in got)
    assert stage._task_sets.builds == 1
