"""The order of work of a budgeted round (`harness.round.schedule`): a pure function of the seed, the commitments
and the history, whose prefixes are what validators of different capacity evaluate."""

from __future__ import annotations

import pytest

from harness.round.schedule import Work, leaders, order


def work(model_id: int, *, block: int, last: int | None = None, standing: float | None = None, comp: str = "t") -> Work:
    return Work(model_id, f"hk{model_id}", block, model_id, comp, last, standing)


def ids(items: list[Work]) -> list[int]:
    return [w.model_id for w in items]


def test_new_commitments_first_in_commit_order_then_leaders_then_stalest() -> None:
    items = [
        work(1, block=5, last=3, standing=0.9),  # leader
        work(2, block=9),  # new, later
        work(3, block=2, last=1, standing=0.1),  # stalest
        work(4, block=7),  # new, earlier
        work(5, block=1, last=2, standing=0.5),  # second leader
        work(6, block=3, last=2, standing=0.0),  # stale, never scored: no leader
    ]
    got = ids(order(items, "seed", leaders_per_competition=2))
    assert got[:2] == [4, 2]
    assert got[2:4] == [1, 5]
    assert got[4] == 3  # visited in epoch 1: older than the two of epoch 2
    assert got[5:] == [6]


def test_leaders_are_per_competition_and_need_a_positive_standing() -> None:
    items = [
        work(1, block=1, last=1, standing=0.9, comp="a"),
        work(2, block=2, last=1, standing=0.8, comp="a"),
        work(3, block=3, last=1, standing=0.2, comp="b"),
        work(4, block=4, last=1, standing=0.0, comp="b"),
    ]
    assert ids(leaders(items, 1)) == [1, 3]
    assert ids(leaders(items, 0)) == []


def test_ties_in_staleness_follow_the_seed_not_the_commit_order() -> None:
    items = [work(i, block=i, last=4) for i in range(1, 41)]
    one = ids(order(items, "0xaaaa", leaders_per_competition=3))
    two = ids(order(items, "0xbbbb", leaders_per_competition=3))
    assert sorted(one) == sorted(two) == list(range(1, 41))
    assert one != two, "the seed decides ties among equally stale models"
    assert one != sorted(one), "commit order would always favour the earliest hotkeys"
    assert one == ids(order(list(reversed(items)), "0xaaaa", leaders_per_competition=3)), "input order leaks"


def test_a_model_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        order([work(1, block=1), work(1, block=2)], "s", leaders_per_competition=1)


# ------------------------------------------------------------------------------------------- re-commit flood


def flood(epochs: int, capacity: int, cooldown: int, flooders: int = 3, honest: int = 30) -> dict[str, object]:
    """The strongest flood a few hotkeys can send through the public rule: each re-commits a fresh model in every
    epoch, so that each commitment is "never visited" and would jump the queue. Honest miners hold one model each
    (three of them lead). Each epoch the validator evaluates the first `capacity` of the order; returns how many
    evaluations the flood took and the oldest an honest model's last visit got."""
    last: dict[int, int] = {i: -1 - (i % 5) for i in range(1, honest + 1)}  # honest model id -> last visit epoch
    standing = {1: 0.9, 2: 0.8, 3: 0.7}
    hotkey_visit: dict[str, int] = {}
    flood_taken = 0
    worst_age = 0
    next_id = 1000
    for epoch in range(epochs):
        items = [
            Work(i, f"hk{i}", i, i, "t", last[i], standing.get(i, 0.1), hotkey_last_first_visit=last[i])
            for i in range(1, honest + 1)
        ]
        flood_ids = {}
        for k in range(flooders):
            next_id += 1
            hotkey = f"flood{k}"
            flood_ids[next_id] = hotkey
            block = epoch * 360 + 1 + k  # committed at the epoch's start: before every honest re-commit
            items.append(
                Work(next_id, hotkey, block, 500 + k, "t", None, None, hotkey_last_first_visit=hotkey_visit.get(hotkey))
            )
        chosen = order(items, f"seed{epoch}", leaders_per_competition=3, epoch=epoch, recommit_cooldown_epochs=cooldown)
        for item in chosen[:capacity]:
            if item.model_id in flood_ids:
                flood_taken += 1
                hotkey_visit[flood_ids[item.model_id]] = epoch
            else:
                last[item.model_id] = epoch
        worst_age = max(worst_age, max(epoch - v for v in last.values()))
    return {"flood_taken": flood_taken, "worst_age": worst_age}


def test_a_recommit_flood_takes_every_slot_without_the_cooldown() -> None:
    """The attack, measured on the rule without the defence: three hotkeys re-committing every epoch take three
    of a small validator's six slots every epoch, the three leaders the rest, and no other honest model is
    looked at again."""
    got = flood(epochs=40, capacity=6, cooldown=0)
    assert got["flood_taken"] == 40 * 3
    assert got["worst_age"] >= 40


def test_the_cooldown_bounds_a_recommit_flood_to_one_priority_visit_per_hotkey_and_window() -> None:
    epochs, capacity, cooldown, flooders = 40, 6, 3, 3
    got = flood(epochs=epochs, capacity=capacity, cooldown=cooldown, flooders=flooders)
    # Each flooding hotkey jumps the queue at most once per window of `cooldown` epochs (3 x 14 = 42 of 240
    # slots); between those its re-commits wait their turn among the visited models.
    assert got["flood_taken"] <= flooders * (epochs // cooldown + 1) + 6, got
    # What the flood and the 3 leaders leave (about 2 slots an epoch) rotates through the other 27 honest models.
    assert got["worst_age"] <= 27 // 2 + 4, got


def test_a_honest_recommit_after_the_cooldown_is_new_again() -> None:
    """A miner who improves their model after a quiet spell goes first, as any new commitment does; one who
    re-committed within the window waits its turn among the visited models."""
    visited = [work(i, block=i, last=5, standing=0.1) for i in range(1, 6)]
    quiet = Work(50, "hk-quiet", 900, 50, "t", None, None, hotkey_last_first_visit=3)
    eager = Work(51, "hk-eager", 800, 51, "t", None, None, hotkey_last_first_visit=9)
    got = ids(order([*visited, quiet, eager], "s", leaders_per_competition=0, epoch=10, recommit_cooldown_epochs=3))
    assert got[0] == 50
    assert got[-1] == 51, "visited in epoch 9: the freshest of all, so it comes last"
