"""Aggregation properties: intervals, combination, EMA, anti-copy, weights."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.aggregate import (
    Claim,
    Estimate,
    RoundEntry,
    combine,
    ema,
    family_estimate,
    resolve_copies,
    round_weights,
    to_weights,
    update_moving_scores,
)

unit = st.floats(0, 1, allow_nan=False)


@given(st.lists(unit, min_size=1, max_size=60))
def test_interval_holds_the_mean_inside_unit_range(scores) -> None:
    e = family_estimate(scores)
    assert 0.0 <= e.low <= e.mean + 1e-12 and e.mean - 1e-12 <= e.high <= 1.0 and e.n == len(scores)


def test_interval_narrows_with_more_tasks() -> None:
    small = family_estimate([0, 1] * 5)
    big = family_estimate([0, 1] * 50)
    assert big.high - big.low < small.high - small.low
    assert family_estimate([]) == Estimate(0.0, 0.0, 0.0, 0)


def test_combine_weights_families_and_missing_counts_zero() -> None:
    est = {"toolcall": Estimate(0.8, 0.7, 0.9, 10)}
    both = combine(est, {"toolcall": 0.5, "caption": 0.5})
    assert both.mean == pytest.approx(0.4)
    assert combine(est, {"toolcall": 3}).mean == pytest.approx(0.8)
    with pytest.raises(ValueError):
        combine(est, {"toolcall": 0})


@given(st.none() | unit, unit, st.floats(0.01, 1))
def test_ema_stays_between_old_and_new(previous, current, alpha) -> None:
    value = ema(previous, current, alpha)
    low, high = (current, current) if previous is None else sorted((previous, current))
    assert low - 1e-12 <= value <= high + 1e-12


def test_moving_scores_keep_models_not_evaluated_and_new_ones_start_from_the_prior() -> None:
    previous = {("a", "x"): 0.5, ("b", "y"): 0.9}
    moved = update_moving_scores(previous, {("a", "x"): 1.0, ("c", "z"): 1.0}, 0.5, prior=0.0)
    assert moved == {("a", "x"): 0.75, ("b", "y"): 0.9, ("c", "z"): 0.5}
    assert update_moving_scores({}, {("c", "z"): 0.8}, 0.5, prior=None) == {("c", "z"): 0.8}


def _entry(uid: int, hotkey: str, identity: str | None, block: int, score: float | None, **kw) -> RoundEntry:
    return RoundEntry(uid=uid, hotkey=hotkey, identity=identity, block=block, score=score, **kw)


def test_copies_get_nothing_earliest_wins_and_block_ties_go_to_the_lower_uid_as_a_number() -> None:
    entries = [
        _entry(3, "c", "aa", 120, 0.9),
        _entry(10, "ten", "aa", 100, 0.9),
        _entry(2, "b", "bb", 130, 0.5),
        _entry(9, "nine", "aa", 100, 0.9),  # same block as uid 10: 9 < 10 as numbers ("10" < "9" as text)
    ]
    assert resolve_copies(entries) == {3, 10}


def test_a_copy_stays_a_copy_when_the_original_is_missing_from_the_round() -> None:
    owners = {"aa": Claim(block=100, uid=1, hotkey="original")}
    entries = [_entry(2, "copier", "aa", 150, 0.9, passed_policy=True)]  # the original's download failed
    assert resolve_copies(entries, owners) == {2}
    result = round_weights(entries, {}, owners=owners, alpha=0.5, fallback="burn", burn_uid=0)
    assert result.weights == {0: 1.0} and result.mode == "burn" and result.copies == {2}


@given(
    st.dictionaries(st.integers(0, 255), unit, min_size=1, max_size=30), st.sampled_from(["softmax", "proportional"])
)
def test_weights_are_a_distribution_and_monotone(scores, method) -> None:
    weights = to_weights(scores, method, 0.05)
    assert all(w >= 0 for w in weights.values())
    total = sum(weights.values())
    assert math.isclose(total, 1.0, rel_tol=1e-9) if any(s > 0 for s in scores.values()) else total == 0
    for a in scores:
        for b in scores:
            if scores[a] > scores[b]:
                assert weights[a] >= weights[b]
    assert all(weights[k] == 0 for k, s in scores.items() if s <= 0)


def test_lower_temperature_gives_the_leader_more() -> None:
    scores = {"a": 0.9, "b": 0.8, "c": 0.5}
    assert to_weights(scores, "softmax", 0.01)["a"] > to_weights(scores, "softmax", 0.1)["a"] > 1 / 3
    assert to_weights(scores, "proportional")["a"] == pytest.approx(0.9 / 2.2)
    with pytest.raises(ValueError):
        to_weights(scores, "bogus")


def test_round_weights_zero_copies_even_with_history() -> None:
    entries = [_entry(1, "one", "aa", 10, 0.8), _entry(2, "two", "aa", 20, 0.8), _entry(3, "three", "bb", 5, 0.6)]
    previous = {("two", "aa"): 0.95, ("nine", "zz"): 0.4}
    result = round_weights(entries, previous, alpha=0.5, prior=None, method="proportional")
    assert result.moving[("one", "aa")] == 0.8 and result.moving[("nine", "zz")] == 0.4
    assert result.moving[("two", "aa")] == 0.95  # a copy is not evaluated: its key is untouched
    assert 2 not in result.weights and 9 not in result.weights  # uid 9 has no commitment this round
    assert result.weights[1] > result.weights[3] > 0 and result.mode == "scores"
    assert math.isclose(sum(result.weights.values()), 1.0)


def test_a_fresh_hotkey_with_one_lucky_round_does_not_overtake_the_incumbent() -> None:
    incumbent = ("inc", "m1")
    previous = {incumbent: 0.8}
    entries = [_entry(1, "inc", "m1", 10, 0.8), _entry(2, "fresh", "m2", 90, 0.9)]
    result = round_weights(entries, previous, alpha=0.3, prior=0.0, method="softmax", temperature=0.05)
    assert result.weights[1] > result.weights[2]
    # the same hotkey upgrading its model starts that model from the prior too: no path is cheaper than the other
    upgraded = round_weights([_entry(1, "inc", "m3", 95, 0.9)], previous, alpha=0.3, prior=0.0)
    assert upgraded.moving[("inc", "m3")] == pytest.approx(0.27)


def test_weights_every_round_fallbacks() -> None:
    failed = [_entry(4, "a", "x", 1, 0.0, passed_policy=True), _entry(7, "b", "y", 2, None, passed_policy=True)]
    uniform = round_weights(failed, {}, alpha=0.5, fallback="uniform", burn_uid=0)
    assert uniform.mode == "uniform" and uniform.weights == {4: 0.5, 7: 0.5}
    burn = round_weights(failed, {}, alpha=0.5, fallback="burn", burn_uid=3)
    assert burn.mode == "burn" and burn.weights == {3: 1.0}
    nobody = round_weights([_entry(4, "a", None, 1, None)], {}, alpha=0.5, fallback="uniform", burn_uid=5)
    assert nobody.mode == "burn" and nobody.weights == {5: 1.0}
