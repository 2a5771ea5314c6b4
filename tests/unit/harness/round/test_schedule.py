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
