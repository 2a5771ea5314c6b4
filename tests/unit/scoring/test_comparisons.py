"""The earlier-commitment advantage: the sign test, the pairwise verdicts, round standings (win rates, covered
models) and the moving standings that `winrate` weights come from."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.aggregate import RoundEntry, round_weights
from scoring.comparisons import Contender, compare, competition_standings, round_standings, sign_test_p
from tests.support.rounds_sim import Field, ladder_tasks, paired_round, rounds_to_overtake, simulate_pair

MARGIN, LEVEL = 0.02, 0.95


def _model(name: str, block: int, tasks: dict[str, float], competition: str = "toolcall", uid: int = 0) -> Contender:
    score = sum(tasks.values()) / len(tasks) if tasks else 0.0
    return Contender((f"hk-{name}", f"id-{name}"), uid or block, block, competition, score, tasks)


def _tasks(bits: str) -> dict[str, float]:
    return {f"t{i:02d}": float(b) for i, b in enumerate(bits)}


# -- the sign test -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wins", "losses", "expected"),
    [
        (5, 0, Fraction(1, 32)),  # 5 of 5: 1/2^5
        (4, 0, Fraction(1, 16)),  # 4 of 4: never significant at 0.95
        (7, 1, Fraction(8 + 1, 256)),  # C(8,7) + C(8,8)
        (6, 2, Fraction(28 + 8 + 1, 256)),  # C(8,6) + C(8,7) + C(8,8)
        (3, 3, Fraction(20 + 15 + 6 + 1, 64)),  # C(6,3..6)
        (10, 2, Fraction(66 + 12 + 1, 4096)),  # C(12,10..12)
        (0, 4, Fraction(1)),
        (0, 0, Fraction(1)),
    ],
)
def test_sign_test_is_the_exact_binomial_upper_tail(wins: int, losses: int, expected: Fraction) -> None:
    assert sign_test_p(wins, losses) == float(expected)


@given(st.integers(0, 60), st.integers(0, 60))
def test_sign_test_falls_with_each_extra_win_and_rises_with_each_loss(wins: int, losses: int) -> None:
    p = sign_test_p(wins, losses)
    assert 0 < p <= 1
    assert sign_test_p(wins + 1, losses) <= p <= sign_test_p(wins, losses + 1)  # equal only where floats round
    if wins > 0:  # P(X >= w) + P(X <= w - 1) = 1, and P(X <= w - 1) is the upper tail seen from the other side
        assert sign_test_p(wins, losses) + sign_test_p(losses + 1, wins - 1) == pytest.approx(1.0)


def test_sign_test_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        sign_test_p(-1, 3)


# -- one comparison --------------------------------------------------------------------------------------------


def test_a_copy_with_equal_per_task_scores_is_covered() -> None:
    bits = "1101101011010110"
    original, copy = _model("original", 10, _tasks(bits)), _model("copy", 20, _tasks(bits))
    verdict = compare(original, copy, margin=MARGIN, level=LEVEL)
    assert not verdict.later_beats and (verdict.wins, verdict.losses, verdict.p) == (0, 0, 1.0)
    standings = competition_standings([copy, original], margin=MARGIN, level=LEVEL)
    assert standings[copy.key].value == 0 and standings[copy.key].covered_by == verdict
    assert standings[original.key].value == 1 and standings[original.key].opponents == 0  # a covered copy is none
    assert "hk-original" in verdict.describe() and "p=1" in verdict.describe()


def test_a_later_model_better_by_the_margin_with_a_significant_sign_test_wins() -> None:
    earlier = _model("earlier", 10, _tasks("1100000000110000"))
    later = _model("later", 20, _tasks("1111111100110000"))  # 6 more tasks right, none worse: p = 1/64
    verdict = compare(earlier, later, margin=MARGIN, level=LEVEL)
    assert verdict.later_beats and (verdict.wins, verdict.losses) == (6, 0) and verdict.p == 1 / 64
    standings = competition_standings([earlier, later], margin=MARGIN, level=LEVEL)
    assert standings[later.key].value == 1 and standings[later.key].covered_by is None
    assert standings[earlier.key].value == 0  # it lost its only comparison


def test_better_by_the_margin_is_not_enough_without_the_sign_test() -> None:
    earlier = _model("earlier", 10, _tasks("1100000000000000"))
    later = _model("later", 20, _tasks("1111110000000000"))  # +0.25, but only 4 of 4 differing tasks: p = 1/16
    verdict = compare(earlier, later, margin=MARGIN, level=LEVEL)
    assert later.score - earlier.score > 10 * MARGIN and verdict.p == 1 / 16 and not verdict.later_beats
    assert compare(earlier, later, margin=MARGIN, level=0.9).later_beats  # the level is what decided it


def test_a_significant_sign_test_is_not_enough_below_the_margin() -> None:
    # 1000 tasks: 30 differ and the later model is right on 21 of them: p = P(X >= 21 | 30) < 0.05, but +0.012
    earlier = {f"t{i:04d}": float(i >= 21) if i < 30 else float(i % 2) for i in range(1000)}
    later = {f"t{i:04d}": float(i < 21) if i < 30 else float(i % 2) for i in range(1000)}
    earlier_c, later_c = _model("earlier", 10, earlier), _model("later", 20, later)
    verdict = compare(earlier_c, later_c, margin=MARGIN, level=LEVEL)
    tail = Fraction(sum(math.comb(30, k) for k in range(21, 31)), 2**30)
    assert (verdict.wins, verdict.losses) == (21, 9) and verdict.p == float(tail) and verdict.p < 0.05
    assert later_c.score - earlier_c.score == pytest.approx(0.012) and not verdict.later_beats
    assert compare(earlier_c, later_c, margin=0.01, level=LEVEL).later_beats  # the margin is what decided it


def test_a_missing_task_and_a_failed_evaluation_count_zero() -> None:
    failed = _model("failed", 10, {})  # a failed evaluation: no per-task scores, score 0
    later = _model("later", 20, _tasks("11111"))
    verdict = compare(failed, later, margin=MARGIN, level=LEVEL)
    assert (verdict.wins, verdict.losses) == (5, 0) and verdict.later_beats
    partial = _model("partial", 30, {"t00": 1.0})  # answered one task, the others missing: 0 there
    assert (compare(later, partial, margin=MARGIN, level=LEVEL).losses, partial.score) == (4, 1.0)


def test_ties_go_to_the_earlier_commitment_block_then_lower_uid() -> None:
    a = _model("a", 10, _tasks("1010"), uid=7)
    b = _model("b", 10, _tasks("1010"), uid=3)  # same block, lower uid: b is the earlier commitment
    standings = competition_standings([a, b], margin=MARGIN, level=LEVEL)
    assert standings[b.key].value == 1 and standings[a.key].value == 0
    with pytest.raises(ValueError):
        compare(a, b, margin=MARGIN, level=LEVEL)  # a is not later than b


# -- round standings ---------------------------------------------------------------------------------------------


def test_win_rates_in_a_field_and_a_copy_of_the_leader_earns_nothing() -> None:
    n = 40
    weak = _model("weak", 5, ladder_tasks(n, 10))
    leader = _model("leader", 10, ladder_tasks(n, 20))
    copy = _model("copy", 20, ladder_tasks(n, 20))
    improver = _model("improver", 30, ladder_tasks(n, 30))
    standings = competition_standings([improver, copy, leader, weak], margin=MARGIN, level=LEVEL)
    assert standings[improver.key].value == 1  # beats both incumbents before it (weak, leader)
    assert standings[leader.key].value == pytest.approx(1 / 2)  # beats weak, loses to improver; copy is no opponent
    assert standings[weak.key].value == 0 and standings[weak.key].wins == 0  # every later incumbent is better
    assert standings[copy.key].wins == 1  # it beats weak, committed before it, yet earns nothing: it is covered
    assert standings[copy.key].value == 0 and standings[copy.key].covered_by.earlier == leader.key
    assert {s.opponents for s in standings.values()} == {2}  # three incumbents: the covered copy is not counted


def test_a_later_model_must_beat_every_earlier_one() -> None:
    n = 40
    strong = _model("strong", 5, ladder_tasks(n, 30))
    middle = _model("middle", 10, ladder_tasks(n, 10))
    later = _model("later", 20, ladder_tasks(n, 20))  # beats middle decisively, not strong
    standings = competition_standings([strong, middle, later], margin=MARGIN, level=LEVEL)
    assert standings[later.key].value == 0 and standings[later.key].covered_by.earlier == strong.key
    assert standings[middle.key].value == 0  # it did not beat strong either
    assert standings[strong.key].value == 1  # the only incumbent


def test_the_single_model_of_a_competition_stands_at_one_and_competitions_are_apart() -> None:
    alone = _model("alone", 30, _tasks("1000"), competition="any2any")
    first = _model("first", 10, _tasks("1111"))
    later = _model("later", 20, _tasks("1111"))
    standings = round_standings([later, alone, first], margin=MARGIN, level=LEVEL)
    assert standings[alone.key].value == 1 and standings[alone.key].opponents == 0
    assert standings[first.key].value == 1 and standings[later.key].value == 0  # a covered copy is no opponent


def test_a_model_that_scored_nothing_stands_at_zero_even_when_it_wins_its_comparisons() -> None:
    first, later = _model("first", 10, _tasks("0000")), _model("later", 20, _tasks("0000"))
    standings = competition_standings([first, later], margin=MARGIN, level=LEVEL)
    assert standings[later.key].covered_by is not None  # the tie went to the earlier one ...
    assert standings[first.key].value == 0  # ... which still stands at 0: it scored nothing
    solo = _model("solo", 1, {})  # the only model of its competition, and its evaluation failed
    assert competition_standings([solo], margin=MARGIN, level=LEVEL)[solo.key].value == 0


@given(st.integers(0, 2**32 - 1))
def test_standings_do_not_depend_on_input_order_or_repetition(seed: int) -> None:
    rng = random.Random(seed)
    models = []
    for index in range(5):
        tasks = {f"t{t}": rng.choice([0.0, 0.25, 1.0]) for t in range(12) if rng.random() < 0.9}
        models.append(_model(f"m{index}", rng.randint(1, 4), tasks, competition=rng.choice("ab"), uid=index + 1))
    first = round_standings(models, margin=MARGIN, level=LEVEL)
    rng.shuffle(models)
    assert round_standings(models, margin=MARGIN, level=LEVEL) == first


# -- moving standings and weights (the `winrate` method) ------------------------------------------------------


def _entry(uid: int, name: str, block: int, tasks: dict[str, float] | None) -> RoundEntry:
    score = None if tasks is None else sum(tasks.values()) / len(tasks)
    return RoundEntry(uid, f"hk-{name}", f"id-{name}", block, score, True, "toolcall")


def test_winrate_gives_a_covered_copy_nothing_and_its_original_everything() -> None:
    bits = _tasks("11011010")
    entries = [_entry(1, "original", 10, bits), _entry(2, "copy", 20, dict(bits))]
    tasks = {e.key: bits for e in entries}
    result = round_weights(entries, {}, alpha=0.3, method="winrate", tasks=tasks)
    assert result.weights == {1: 1.0} and result.mode == "scores"
    assert result.standing == {("hk-original", "id-original"): pytest.approx(0.3), ("hk-copy", "id-copy"): 0.0}
    # the moving scores are still kept for both (display, softmax, proportional)
    assert result.moving[("hk-copy", "id-copy")] == result.moving[("hk-original", "id-original")] > 0
    softmax = round_weights(entries, {}, alpha=0.3, method="softmax", tasks=tasks)
    assert softmax.weights == pytest.approx({1: 0.5, 2: 0.5})  # what the copier got before the comparisons


def test_a_model_not_evaluated_this_round_keeps_its_moving_standing() -> None:
    previous = {("hk-a", "id-a"): 0.8}
    result = round_weights([_entry(1, "a", 10, None)], {}, alpha=0.3, method="winrate", previous_standing=previous)
    assert result.standing == previous and result.weights == {1: 1.0}


def test_no_standing_falls_back_as_before() -> None:
    zero = _tasks("0000")
    entries = [_entry(4, "a", 1, zero), _entry(7, "b", 2, zero)]
    result = round_weights(entries, {}, alpha=0.5, method="winrate", tasks={e.key: zero for e in entries})
    assert result.mode == "burn" and result.weights == {0: 1.0}
    uniform = round_weights(entries, {}, alpha=0.5, method="winrate", fallback="uniform", tasks={})
    assert uniform.mode == "uniform" and uniform.weights == {4: 0.5, 7: 0.5}
    with pytest.raises(ValueError):
        round_weights(entries, {}, alpha=0.5, method="bogus")


def test_a_coin_flip_round_does_not_hand_the_crown_over_or_back() -> None:
    sim = Field(["original", "rival"])
    sim.seed_standing({"original": 1.0})
    rng = random.Random(11)
    leaders, rival_won = [], []
    for index in range(12):
        # an equal rival that differs on 12 of 100 tasks; in round 3 the coin comes up: it is right on all 12
        original, rival = paired_round(rng, 100, 0.6, 12, 1.0 if index == 3 else 0.5)
        weights = sim.round({"original": original, "rival": rival})
        rival_won.append(sim.last["rival"] > 0)
        leaders.append(sim.leader())
        assert weights["original"] > 0.99, (index, weights)
    assert rival_won[3]  # it won that round (and may win another by chance: about 2 % of rounds at 12 differing)
    assert set(leaders) == {"original"}


@pytest.mark.parametrize("field_size", [2, 3, 5, 10, 30])
def test_a_truly_better_later_model_takes_the_lead_in_the_documented_rounds(field_size: int) -> None:
    """docs/scoring.md's table (alpha 0.3, an established leader at standing 1, the other models committed after
    it and covered by it): computed through the real code. Covered models are no one's opponents, so the overtaken
    leader's round standing falls to 0 whatever the field's size, and the improver leads once 0.7^k < 1 - 0.7^k:
    two rounds. Padding the field with losing models does not slow it down."""
    assert rounds_to_overtake(field_size) == min(k for k in range(1, 50) if 0.7**k < 1 - 0.7**k) == 2


def test_an_improver_leads_in_two_rounds_and_then_takes_almost_everything() -> None:
    sim = Field(["original", "improver"])
    sim.seed_standing({"original": 1.0})
    tasks = {"original": ladder_tasks(100, 60), "improver": ladder_tasks(100, 68)}
    history = [sim.round(tasks) for _ in range(6)]
    assert history[0]["original"] > history[0]["improver"]  # one round is not enough
    assert history[1]["improver"] > history[1]["original"]  # the second is
    assert history[5]["improver"] > 0.999


def test_near_copies_in_simulated_100_task_rounds_earn_nothing() -> None:
    """A copy that answers like the original on 97 % of 100 tasks never wins a round; one that differs on 20 %
    (half better, half worse) wins a round now and then (the sign test's level) but never leads."""
    close = simulate_pair(seed=1, rounds=100, n=100, differ=3, later_better=0.5)
    assert close["rounds_later_won"] == 0 and close["later_weight_share_max"] == 0.0
    loose = simulate_pair(seed=3, rounds=200, n=100, differ=20, later_better=0.5)
    assert loose["first_round_later_leads"] is None and loose["later_weight_share_max"] < 0.01
    assert loose["rounds_later_won"] <= 0.05 * 200
