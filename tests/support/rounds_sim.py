"""Rounds simulated through the real pure weight functions (`scoring.aggregate.round_weights` with the `winrate`
method): per-task scores go in, each round's weights and moving standings come out. The comparison tests use
it, and docs/scoring.md's copier / improver numbers come from it (`python -m tests.support.rounds_sim`).

Models are named; each is committed at its own block (in the order given), under its own hotkey."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scoring.aggregate import ModelKey, RoundEntry, round_weights
from scoring.config import ScoringConfig

Tasks = dict[str, float]


@dataclass
class Field:
    """Models in commitment order, and the moving standings and scores carried from round to round."""

    names: Sequence[str]
    config: ScoringConfig = field(default_factory=ScoringConfig)
    standing: dict[ModelKey, float] = field(default_factory=dict)
    moving: dict[ModelKey, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    """Each model's round standing in the last round (win rate; 0 when covered)."""

    def key(self, name: str) -> ModelKey:
        return (f"hk-{name}", f"id-{name}")

    def seed_standing(self, values: Mapping[str, float]) -> None:
        """Start from an established history (e.g. a leader that won alone for many rounds: 1.0)."""
        self.standing.update({self.key(n): v for n, v in values.items()})

    def round(self, tasks: Mapping[str, Tasks]) -> dict[str, float]:
        """One round in which the named models answered `tasks` (per task, a score in [0, 1]; a model's
        competition score is its mean). Returns weights by name; standings carry over to the next round."""
        entries = [
            RoundEntry(
                uid=index + 1,
                hotkey=self.key(name)[0],
                identity=self.key(name)[1],
                block=100 + index,
                score=(sum(tasks[name].values()) / len(tasks[name])) if name in tasks else None,
                passed_policy=True,
                competition="toolcall",
            )
            for index, name in enumerate(self.names)
        ]
        c = self.config
        result = round_weights(
            entries,
            self.moving,
            alpha=c.ema_alpha,
            prior=c.new_model_prior,
            method=c.weights_method,
            temperature=c.softmax_temperature,
            fallback=c.weights_fallback,
            burn_uid=0,
            tasks={self.key(n): t for n, t in tasks.items()},
            previous_standing=self.standing,
            margin=c.copy_margin,
            level=c.copy_level,
        )
        self.moving, self.standing = result.moving, result.standing
        self.last = {n: result.standings[self.key(n)].value for n in self.names if self.key(n) in result.standings}
        return {name: result.weights.get(index + 1, 0.0) for index, name in enumerate(self.names)}

    def leader(self) -> str:
        """The model with the highest moving standing (earlier commitment on a tie)."""
        return max(self.names, key=lambda n: (self.standing.get(self.key(n), 0.0), -self.names.index(n)))


def paired_round(rng: random.Random, n: int, base_rate: float, differ: int, later_better: float) -> tuple[Tasks, Tasks]:
    """Per-task pass/fail of an earlier model and a later one on `n` tasks: they answer alike on all but `differ`
    tasks (passing at `base_rate`); on each differing task exactly one of them passes, the later one with
    probability `later_better` (0.5: a near-copy that is neither better nor worse, only different)."""
    earlier: Tasks = {}
    later: Tasks = {}
    differing = set(rng.sample(range(n), differ))
    for index in range(n):
        task = f"t{index:03d}"
        if index in differing:
            win = rng.random() < later_better
            earlier[task], later[task] = (0.0, 1.0) if win else (1.0, 0.0)
        else:
            earlier[task] = later[task] = float(rng.random() < base_rate)
    return earlier, later


def simulate_pair(
    *, seed: int, rounds: int, n: int, differ: int, later_better: float, leader_standing: float = 1.0
) -> dict[str, object]:
    """An established original (standing `leader_standing`) and a later model over `rounds` rounds: how often the
    later one wins a round, the mean share of the pair's weight it gets, and the first round it leads (None)."""
    rng = random.Random(seed)
    sim = Field(["original", "later"])
    sim.seed_standing({"original": leader_standing})
    won, shares, first_lead = 0, [], None
    for index in range(rounds):
        original, later = paired_round(rng, n, 0.6, differ, later_better)
        weights = sim.round({"original": original, "later": later})
        won += sim.last["later"] > 0
        total = weights["original"] + weights["later"]
        shares.append(weights["later"] / total if total else 0.0)
        if first_lead is None and sim.leader() == "later":
            first_lead = index + 1
    return {
        "rounds": rounds,
        "tasks": n,
        "differing_tasks": differ,
        "later_wins_per_differing_task": later_better,
        "rounds_later_won": won,
        "later_weight_share_mean": sum(shares) / rounds,
        "later_weight_share_max": max(shares),
        "later_weight_share_last": shares[-1],
        "first_round_later_leads": first_lead,
    }


def ladder_tasks(n: int, passes: int) -> Tasks:
    """`n` tasks of which the first `passes` are passed: models on one ladder are nested (a better one passes
    every task a worse one passes, and more), so every comparison between two of them is decisive."""
    return {f"t{index:03d}": float(index < passes) for index in range(n)}


def rounds_to_overtake(field_size: int, *, leader_standing: float = 1.0, n: int = 100, limit: int = 50) -> int | None:
    """Rounds until a truly better later model leads: an established leader (moving standing `leader_standing`)
    committed first, `field_size - 2` weaker models committed after it (each covered by it), and the improver
    committed last, which beats every one of them decisively (60 vs 70 of `n` tasks, nested). None: not within
    `limit` rounds."""
    names = ["leader", *(f"weaker{i}" for i in range(field_size - 2)), "improver"]
    sim = Field(names)
    sim.seed_standing({"leader": leader_standing})
    tasks = {"leader": ladder_tasks(n, 60), "improver": ladder_tasks(n, 70)}
    tasks.update({name: ladder_tasks(n, 40 - i) for i, name in enumerate(names[1:-1])})
    for index in range(limit):
        sim.round(tasks)
        if sim.leader() == "improver":
            return index + 1
    return None


def main() -> None:
    """The numbers docs/scoring.md quotes, as JSON."""
    out: dict[str, object] = {
        "rounds_to_overtake": {
            f"field_{size}": {str(s): rounds_to_overtake(size, leader_standing=s) for s in (1.0, 0.51, 0.3, 0.0)}
            for size in (2, 3, 5, 10)
        },
        "copy_97pct_same": simulate_pair(seed=1, rounds=200, n=100, differ=3, later_better=0.5),
        "copy_90pct_same": simulate_pair(seed=2, rounds=200, n=100, differ=10, later_better=0.5),
        "copy_80pct_same": simulate_pair(seed=3, rounds=200, n=100, differ=20, later_better=0.5),
        "improver_12_differ_10_better": simulate_pair(seed=4, rounds=30, n=100, differ=12, later_better=10 / 12),
        "improver_20_differ_65pct_better": simulate_pair(seed=5, rounds=100, n=100, differ=20, later_better=0.65),
        "improver_400_tasks_80_differ_65pct_better": simulate_pair(
            seed=7, rounds=100, n=400, differ=80, later_better=0.65
        ),
        "improver_20_differ_80pct_better": simulate_pair(seed=6, rounds=100, n=100, differ=20, later_better=0.8),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
