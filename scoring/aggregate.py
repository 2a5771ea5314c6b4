"""From per-task scores to chain weights: per-family estimates with intervals, competition weighting, EMA across
rounds, anti-copy resolution and the weight rule. Pure functions; state (previous EMA) is passed in and out.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev


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


def ema_update(
    previous: Mapping[Hashable, float], current: Mapping[Hashable, float], alpha: float
) -> dict[Hashable, float]:
    """New EMA per model; a model not evaluated this round keeps its value (it is neither rewarded nor punished
    for a round it was not in)."""
    out = dict(previous)
    for key, value in current.items():
        out[key] = ema(previous.get(key), value, alpha)
    return out


@dataclass(frozen=True)
class Commitment:
    uid: Hashable
    content_hash: str
    """Unsalted digest of the model files as the validator computed them (the on-chain HASH is salted per
    hotkey, so two miners with the same files have different on-chain hashes and equal content hashes)."""
    block: int
    score: float


def resolve_copies(entries: Sequence[Commitment]) -> dict[Hashable, float]:
    """Among identical content only the earliest commitment keeps its score (ties: the lower uid by str order);
    copies get 0."""
    first: dict[str, Commitment] = {}
    for entry in sorted(entries, key=lambda e: (e.block, str(e.uid))):
        first.setdefault(entry.content_hash, entry)
    return {e.uid: (e.score if first[e.content_hash] is e else 0.0) for e in entries}


def to_weights(
    scores: Mapping[Hashable, float], method: str = "softmax", temperature: float = 0.05
) -> dict[Hashable, float]:
    """Normalised weights. Scores <= 0 (copies, failures) get 0; if nobody scored, everyone gets 0."""
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


def round_weights(
    commitments: Sequence[Commitment],
    previous_ema: Mapping[Hashable, float],
    alpha: float,
    method: str = "softmax",
    temperature: float = 0.05,
) -> tuple[dict[Hashable, float], dict[Hashable, float]]:
    """One round: copies resolved, EMA updated, weights set. Returns (new EMA, weights). A copy gets weight 0
    this round even if an earlier EMA of its uid is high."""
    current = resolve_copies(commitments)
    new_ema = ema_update(previous_ema, current, alpha)
    copies = {e.uid for e in commitments if current[e.uid] == 0.0 and e.score > 0}
    eligible = {uid: (0.0 if uid in copies else value) for uid, value in new_ema.items()}
    return new_ema, to_weights(eligible, method, temperature)
