"""Aggregation properties: intervals, combination, EMA, anti-copy, weights."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.aggregate import (
    Commitment,
    Estimate,
    combine,
    ema,
    ema_update,
    family_estimate,
    resolve_copies,
    to_weights,
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


def test_ema_update_keeps_models_not_evaluated() -> None:
    assert ema_update({1: 0.5, 2: 0.9}, {1: 1.0}, 0.5) == {1: 0.75, 2: 0.9}


def test_copies_get_nothing_and_earliest_wins() -> None:
    entries = [
        Commitment(uid=3, content_hash="aa", block=120, score=0.9),
        Commitment(uid=1, content_hash="aa", block=100, score=0.9),
        Commitment(uid=2, content_hash="bb", block=130, score=0.5),
        Commitment(uid=4, content_hash="aa", block=100, score=0.9),
    ]
    assert resolve_copies(entries) == {3: 0.0, 1: 0.9, 2: 0.5, 4: 0.0}


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
    from scoring.aggregate import round_weights

    commitments = [Commitment(1, "aa", 10, 0.8), Commitment(2, "aa", 20, 0.8), Commitment(3, "bb", 5, 0.6)]
    new_ema, weights = round_weights(commitments, {2: 0.95, 9: 0.4}, alpha=0.5, method="proportional")
    assert new_ema[1] == 0.8 and new_ema[2] == pytest.approx(0.475) and new_ema[9] == 0.4
    assert weights[2] == 0.0
    assert weights[1] > weights[3] > 0 and weights[9] > 0
    assert math.isclose(sum(weights.values()), 1.0)
