"""From per-task scores to chain weights: per-family estimates with intervals, competition weighting, moving
scores per model across rounds, anti-copy resolution, the earlier-commitment advantage (`scoring.comparisons`)
and the weight rule. Pure functions; state (previous moving scores and standings, identity owners) is passed in
and out. This is what the supervisor runs, so what is tested here is what sets weights.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist, fmean, stdev

from scoring.comparisons import Contender, Standing, round_standings


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int


def family_estimate(scores: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean with a normal-approximation interval, clipped to [0, 1]. One sample says little: [0, 1]."""
    n = len(scores)
    if n == 0:
        return Estimate(0.0, 0.0, 0.0, 0)
    mean = fmean(scores)
    if n == 1:
        return Estimate(mean, 0.0, 1.0, 1)
    z = NormalDist().inv_cdf((1 + level) / 2)
    half = z * stdev(scores) / math.sqrt(n)
    return Estimate(mean, max(0.0, mean - half), min(1.0, mean + half), n)


def combine(estimates: Mapping[str, Estimate], weights: Mapping[str, float]) -> Estimate:
    """Weighted mean over the competition's families; a family with no estimate counts as 0. Bounds are combined
    the same way (conservative: it assumes the families' errors move together)."""
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        raise ValueError("competition weights must have a positive sum")
    parts = {f: w / total for f, w in weights.items() if w > 0}
    empty = Estimate(0.0, 0.0, 0.0, 0)
    pick = [(estimates.get(f, empty), w) for f, w in parts.items()]
    return Estimate(
        mean=sum(e.mean * w for e, w in pick),
        low=sum(e.low * w for e, w in pick),
        high=sum(e.high * w for e, w in pick),
        n=sum(e.n for e, _ in pick),
    )


def ema(previous: float | None, current: float, alpha: float) -> float:
    return current if previous is None else alpha * current + (1 - alpha) * previous


ModelKey = tuple[str, str]
"""A model's key for moving scores: (hotkey, content identity). A hotkey that changes its model starts over;
a model that moves to a new hotkey starts over too, so neither a fresh hotkey nor a fresh model pays."""


def update_moving_scores(
    previous: Mapping[ModelKey, float],
    current: Mapping[ModelKey, float],
    alpha: float,
    prior: float | None = 0.0,
) -> dict[ModelKey, float]:
    """New moving score per model. A model new to the history starts from `prior` (None: from its first score),
    so one lucky round cannot take the lead from a model that has been good for many; a model not evaluated this
    round keeps its value (it is neither rewarded nor punished for a round it was not in)."""
    out = dict(previous)
    for key, value in current.items():
        out[key] = ema(previous.get(key, prior), value, alpha)
    return out


@dataclass(frozen=True, order=True)
class Claim:
    """Who committed a content identity: ordered by commit block, then the lower uid (numeric) on a tie."""

    block: int
    uid: int
    hotkey: str


def earliest_claim(current: Claim | None, candidate: Claim) -> Claim:
    """The claim that owns a content identity for good: the earliest commit (block, then lower uid)."""
    return candidate if current is None or candidate < current else current


@dataclass(frozen=True)
class RoundEntry:
    """One eligible commitment in a round, as the weights see it."""

    uid: int
    hotkey: str
    identity: str | None
    """Unsalted content identity as the validator computed it (equal for copies whoever committed them); None
    when the content was never fetched, so nothing can be said about it."""
    block: int
    score: float | None
    """This round's score; None when the model was not evaluated this round (it keeps its moving score)."""
    passed_policy: bool = False
    competition: str = ""
    """The competition it entered: models are compared only with the models of their own competition."""

    @property
    def key(self) -> ModelKey | None:
        return None if self.identity is None else (self.hotkey, self.identity)


def resolve_copies(entries: Sequence[RoundEntry], owners: Mapping[str, Claim] | None = None) -> set[int]:
    """Uids whose content belongs to someone else: the earliest claim on an identity, from this round's entries
    or from `owners` (claims seen in earlier rounds, kept for good), owns it. A copy is a copy even when the
    original is missing from this round (its download failed, it committed something else since)."""
    claims = dict(owners or {})
    for entry in entries:
        if entry.identity is not None:
            claims[entry.identity] = earliest_claim(
                claims.get(entry.identity), Claim(entry.block, entry.uid, entry.hotkey)
            )
    return {e.uid for e in entries if e.identity is not None and claims[e.identity].hotkey != e.hotkey}


def to_weights(
    scores: Mapping[Hashable, float], method: str = "softmax", temperature: float = 0.05
) -> dict[Hashable, float]:
    """Normalised weights (`softmax` or `proportional`; `winrate` is `round_weights`' business: softmax over
    moving standings). Scores <= 0 (copies, failures) get 0; if nobody scored, everyone gets 0."""
    eligible = {k: s for k, s in scores.items() if s > 0 and math.isfinite(s)}
    out = {k: 0.0 for k in scores}
    if not eligible:
        return out
    if method == "proportional":
        total = sum(eligible.values())
        raw = {k: s / total for k, s in eligible.items()}
    elif method == "softmax":
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        top = max(eligible.values())
        exps = {k: math.exp((s - top) / temperature) for k, s in eligible.items()}
        total = sum(exps.values())
        raw = {k: e / total for k, e in exps.items()}
    else:
        raise ValueError(f"unknown weights method {method!r}")
    out.update(raw)
    return out


WEIGHTS_METHODS = ("winrate", "softmax", "proportional")


@dataclass(frozen=True)
class RoundWeights:
    moving: dict[ModelKey, float]  # every model's moving score after this round (carried into the next)
    weights: dict[int, float]  # uid -> weight, summing to 1
    mode: str  # "scores", "uniform" (over models that passed policy) or "burn"
    copies: frozenset[int] = frozenset()
    standing: dict[ModelKey, float] = field(default_factory=dict)
    """Every model's moving standing (EMA of its round standing) after this round (carried into the next)."""
    standings: dict[ModelKey, Standing] = field(default_factory=dict)
    """This round's standings of the models scored this round (win rates, and who covers whom)."""


def round_weights(
    entries: Sequence[RoundEntry],
    previous: Mapping[ModelKey, float],
    *,
    owners: Mapping[str, Claim] | None = None,
    alpha: float,
    prior: float | None = 0.0,
    method: str = "softmax",
    temperature: float = 0.05,
    fallback: str = "burn",
    burn_uid: int = 0,
    tasks: Mapping[ModelKey, Mapping[str, float]] | None = None,
    previous_standing: Mapping[ModelKey, float] | None = None,
    margin: float = 0.02,
    level: float = 0.95,
) -> RoundWeights:
    """One round: copies resolved, moving scores and moving standings updated, weights set.

    `tasks` holds the per-task scores of each model scored this round (a model missing there, or a task missing
    from its scores, counts 0 on it); `scoring.comparisons` turns them into round standings (win rates, 0 for a
    later model that does not beat every earlier one by the margin), which move per model like the scores do
    (`alpha`, from `prior`). `method`: `winrate` is a softmax over the moving standings; `softmax` and
    `proportional` work on the moving scores, as before the comparisons existed. Every round ends with weights:
    when no model earns any, `fallback` decides: `uniform` over the models that passed policy (the burn uid when
    none did), or `burn` (everything to `burn_uid`). A copy gets weight 0 even if its key has a high history."""
    if method not in WEIGHTS_METHODS:
        raise ValueError(f"unknown weights method {method!r}")
    copies = resolve_copies(entries, owners)
    scored = [e for e in entries if e.key is not None and e.score is not None and e.uid not in copies]
    current = {e.key: e.score for e in scored}
    moving = update_moving_scores(previous, current, alpha, prior)  # type: ignore[arg-type]
    per_task = tasks or {}
    contenders = [
        Contender(e.key, e.uid, e.block, e.competition, e.score, per_task.get(e.key, {}))  # type: ignore[arg-type]
        for e in scored
    ]
    standings = round_standings(contenders, margin=margin, level=level)
    standing = update_moving_scores(previous_standing or {}, {k: s.value for k, s in standings.items()}, alpha, prior)
    ranks, rule = (standing, "softmax") if method == "winrate" else (moving, method)
    ranked = {e.uid: ranks[e.key] for e in entries if e.key is not None and e.key in ranks and e.uid not in copies}
    weights = {uid: w for uid, w in to_weights(ranked, rule, temperature).items() if w > 0}

    def result(weights: dict[int, float], mode: str) -> RoundWeights:
        return RoundWeights(moving, weights, mode, frozenset(copies), standing, standings)  # type: ignore[arg-type]

    if weights:
        return result(weights, "scores")
    passed = sorted({e.uid for e in entries if e.passed_policy and e.uid not in copies})
    if fallback == "uniform" and passed:
        return result({uid: 1 / len(passed) for uid in passed}, "uniform")
    if fallback not in ("uniform", "burn"):
        raise ValueError(f"unknown weights fallback {fallback!r}")
    return result({burn_uid: 1.0}, "burn")
