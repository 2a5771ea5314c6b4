"""Pairwise comparisons of the models of one competition in one round: the earlier commitment keeps its place
unless a later model is better by a margin that chance does not explain, on the very same tasks.

Why this shape:
- Every model of a competition in a round answers the same seeded task set, so two models can be compared task
  by task (paired), which removes the task-difficulty variance a comparison of two means carries.
- A later commitment could have been copied from an earlier public one and nudged (weight noise, a few steps of
  training): on most tasks it answers exactly like the original. It counts as better only when (a) its competition
  score is higher by at least `margin` (a minimum effect worth paying for) and (b) a one-sided exact sign test over
  the tasks where the two differ rejects "the later one is no better" at `level`. Otherwise the earlier one wins
  the comparison; ties go to the earlier commitment.
- The sign test is exact (binomial tails from integer counts) and has no random draws, so every validator with
  the same per-task scores computes the same verdicts, bit for bit.
- A later model that does not beat every earlier incumbent (an earlier model not itself covered) is *covered* (a
  near-copy, or no real improvement): its round standing is 0. Every other model's round standing is its win rate
  among the incumbents. `scoring.aggregate.round_weights` moves the
  standings per model across rounds and turns them into weights (`scoring.weights_method = "winrate"`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MARGIN_SLACK = 1e-9
"""A score difference within this of `margin` counts as reaching it: `0.30 - 0.28` is `0.0199999...` in floats."""

Key = tuple[str, str]
"""A model's key, (hotkey, content identity): the same as `scoring.aggregate.ModelKey`."""


@dataclass(frozen=True)
class Contender:
    """One scored model of a round, as the comparisons see it."""

    key: Key
    uid: int
    block: int
    competition: str
    score: float
    """This round's competition score."""
    tasks: Mapping[str, float]
    """This round's per-task scores; a task missing here (or a failed evaluation: none at all) counts 0."""

    @property
    def hotkey(self) -> str:
        return self.key[0]

    @property
    def order(self) -> tuple[int, int, str]:
        """Commitment order: the block, then the lower uid (as `scoring.aggregate.Claim` orders claims)."""
        return (self.block, self.uid, self.hotkey)


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test: the probability of at least `wins` successes in `wins + losses` fair coin flips,
    i.e. how often a model that is no better would look at least this much better. Ties are not counted (the
    caller drops them). No differing task at all gives 1."""
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses are counts")
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(wins, n + 1))
    return tail / 2**n  # integer / integer: correctly rounded, the same on every machine


@dataclass(frozen=True)
class Comparison:
    """The verdict on one pair: does the later commitment beat the earlier one?"""

    earlier: Key
    later: Key
    earlier_score: float
    later_score: float
    wins: int
    """Tasks where the later model scored higher."""
    losses: int
    """Tasks where the later model scored lower."""
    p: float
    """Sign test p-value of "the later model is no better"."""
    later_beats: bool

    def describe(self) -> str:
        """Why the later model did not win, in one line (a round's failure note)."""
        return (
            f"not better than {self.earlier[0]} by the margin (score {self.later_score:.4f} vs "
            f"{self.earlier_score:.4f}, sign test p={self.p:.3g} on {self.wins} better / {self.losses} worse tasks)"
        )


def compare(earlier: Contender, later: Contender, *, margin: float, level: float) -> Comparison:
    """The later commitment beats the earlier one only if its score is higher by at least `margin` and the sign
    test over the tasks either model answered rejects "no better" at `level`; otherwise the earlier one wins."""
    if later.order <= earlier.order:
        raise ValueError(f"{later.key} is not committed after {earlier.key}")
    tasks = sorted(set(earlier.tasks) | set(later.tasks))
    wins = losses = 0
    for task in tasks:
        ours, theirs = later.tasks.get(task, 0.0), earlier.tasks.get(task, 0.0)
        wins += ours > theirs
        losses += ours < theirs
    p = sign_test_p(wins, losses)
    beats = later.score - earlier.score >= margin - MARGIN_SLACK and p <= 1 - level
    return Comparison(earlier.key, later.key, earlier.score, later.score, wins, losses, p, beats)


@dataclass(frozen=True)
class Standing:
    """One model's place in its competition this round."""

    value: float
    """Round standing: its win rate, or 0 when covered or when it scored nothing."""
    wins: int
    """Earlier incumbents it beat (a covered model: those it beat before the one that covers it)."""
    opponents: int
    """The other incumbents of its competition this round (covered models are no one's opponents)."""
    covered_by: Comparison | None = None
    """The earliest incumbent it did not beat (None: it beat every earlier incumbent)."""


def competition_standings(contenders: Sequence[Contender], *, margin: float, level: float) -> dict[Key, Standing]:
    """Round standings of one competition's scored models, in commitment order.

    The field is built in commitment order: a model joins it only when it beats every model already in it (every
    earlier incumbent); otherwise it is covered by the first incumbent it did not beat, and stands at 0. Win rates
    are counted within the field only, so covered models are no one's opponents: an owner who commits many losing
    models after its leader cannot pad the leader's win rate with them, and an overtaken leader falls to 0 at once
    (its moving standing then decays). Within the field every later model beat every earlier one, so the k-th
    incumbent of m stands at k / (m - 1) and the latest at 1.

    A model that scored nothing (<= 0) stands at 0 even when it wins its comparisons (two failed evaluations tie,
    and the tie goes to the earlier one): a round in which no model scored must still end in the fallback."""
    ordered = sorted(contenders, key=lambda c: c.order)
    if len({c.key for c in ordered}) != len(ordered):
        raise ValueError("a model appears twice in one competition")
    incumbents: list[Contender] = []
    beaten: dict[Key, int] = {}
    covered: dict[Key, Comparison] = {}
    for later in ordered:
        beaten[later.key] = 0
        for earlier in incumbents:
            verdict = compare(earlier, later, margin=margin, level=level)
            if not verdict.later_beats:
                covered[later.key] = verdict
                break
            beaten[later.key] += 1
        if later.key not in covered:
            incumbents.append(later)
    opponents = len(incumbents) - 1
    out: dict[Key, Standing] = {}
    for c in ordered:
        if c.key in covered:
            out[c.key] = Standing(0.0, beaten[c.key], opponents, covered[c.key])
            continue
        rate = 1.0 if opponents == 0 else beaten[c.key] / opponents
        out[c.key] = Standing(0.0 if c.score <= 0 else rate, beaten[c.key], opponents)
    return out


def round_standings(contenders: Sequence[Contender], *, margin: float, level: float) -> dict[Key, Standing]:
    """Round standings of every scored model: models are compared only within their own competition (its models
    answered the same tasks)."""
    by_competition: dict[str, list[Contender]] = {}
    for contender in contenders:
        by_competition.setdefault(contender.competition, []).append(contender)
    out: dict[Key, Standing] = {}
    for name in sorted(by_competition):
        out.update(competition_standings(by_competition[name], margin=margin, level=level))
    return out
