"""What model-free attacks earn per task source, and what a feed of held-out tasks changes (issue 20).

Sources, `HARNESS_BENCH_HELDOUT_TASKS` tasks each (default 2,000, over two seeds):

- `bfcl`: BFCL v4 entries sampled and perturbed the way a round does it (`harness.tasks.bfcl.sample`, default
  categories and perturbation);
- `generated`: the public generator (`harness.tasks.toolcall_gen.generate`, default category weights);
- `heldout`: a simulated curator's private pool / feed: a third of BFCL's answerable entries (picked by a hash
  of their questions' words) used as written, the way `harness.tasks.bfcl.sample_private` uses a private pool, and
  removed from the lookup attacker's index, so no attack has seen them. Real feed tasks would be written by a
  curator; BFCL entries stand in for tasks of the same style and difficulty.
- `heldout_perturbed`: the same entries as a feed round uses them by default (`tasks.feed_perturb`): perturbed per
  round by `harness.tasks.toolcall_family.feed_tasks`, in batches of `BATCH_SIZE`.

Strategies (tests/support/adversaries.py): the grammar inverter, model-free extraction, the BFCL lookup (when
tests/support/bfcl_lookup.py exists), `combined` (each task routed as a miner would: the inverter when every
offered function is the generator's, the lookup when its best BFCL match is confident, extraction otherwise),
`best_of` (per task the best of the three: an upper bound no router reaches) and the refusal floor; each strict
and partial through the validator's scoring path (`score_each`, default settings).

Then the combined attack on whole rounds of the default mix (`TasksConfig()`: 100 tool-call tasks, 75 % perturbed
BFCL, 25 % generated), and the same with a feed share f: `(1 - f) * local + f * feed`, feed being the strongest
attack on the feed tasks as the default treats them, and the least feed share that holds the attack to 0.15
strict; real rounds built with a feed batch of held-out entries (`build_family(..., feed=FeedTasks)`) at the
default feed settings (`round_with_feed_real_path`) and at the other candidates (`ALTERNATIVES`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import statistics
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from harness.evaluation.run_loop import outcome_from_response
from harness.evaluation.task_scoring import score_each
from harness.tasks import bfcl, build_family, toolcall_gen
from harness.tasks.config import TasksConfig
from harness.tasks.taskset import rng_for
from harness.tasks.toolcall_family import feed_tasks
from scoring.config import ScoringConfig

SEEDS = ("bench-heldout-a", "bench-heldout-b")
ROUND_SEEDS = tuple(f"bench-heldout-round-{i}" for i in range(10))
HELDOUT_SHARE = 3
"""One BFCL entry in this many (by a hash of its id) is held out of the attacks' view."""
FEED_FRACTIONS = (0.25, 0.5, 0.75, 0.8, 0.9, 1.0)
ALTERNATIVES = {
    "fraction_0.8_as_written": {"feed_fraction": 0.8, "feed_perturb": False},
    "fraction_0.8_perturbed": {"feed_fraction": 0.8, "feed_perturb": True},
    "fraction_0.9_perturbed": {"feed_fraction": 0.9, "feed_perturb": True},
    "fraction_1.0_as_written": {"feed_fraction": 1.0, "feed_perturb": False},
}
"""Feed settings measured beside the default on real rounds (the candidates issue 20's default was chosen from)."""
BATCH_SIZE = 100
"""Entries per simulated batch in the `heldout_perturbed` source (a batch serves about one round's feed share)."""
FEED_BATCH = 400
"""Entries in the simulated curator's batch (a round draws its feed share from it)."""
TARGET = 0.15
MODES = ("strict", "partial")


def held_out(entry: dict) -> bool:
    """Held out by the words of its question, not its id: BFCL asks some questions in several entries (another
    category, other functions), and a held-out question must not be in the attacks' index under another id."""
    words = " ".join(re.findall(r"[a-z]+", " ".join(str(m.get("content", "")) for m in entry["conversation"]).lower()))
    return int(hashlib.sha256(words.encode()).hexdigest(), 16) % HELDOUT_SHARE == 0


def heldout_entries(n: int, seed: str) -> list[dict]:
    """`n` held-out entries, categories drawn by the default BFCL weights (like `bfcl.sample`), without
    replacement within a category while its entries last."""
    config = TasksConfig()
    data = bfcl.default_data_dir()
    rng = rng_for(seed, "toolcall", "heldout")
    pools = {c: [e for e in bfcl.sampled_entries(data, c) if held_out(e)] for c in sorted(config.bfcl_categories)}
    weights = {c: w for c, w in config.bfcl_categories.items() if pools.get(c)}
    counts = dict.fromkeys(sorted(weights), 0)
    for category in rng.choices(sorted(weights), weights=[weights[c] for c in sorted(weights)], k=n):
        counts[category] += 1
    entries = []
    for category, count in counts.items():
        chosen = rng.sample(pools[category], min(count, len(pools[category])))
        entries += chosen + rng.choices(pools[category], k=count - len(chosen))
    return entries


def sources(n: int) -> dict[str, list[dict]]:
    config = TasksConfig()
    per_seed = [n // len(SEEDS) + (i < n % len(SEEDS)) for i in range(len(SEEDS))]
    out: dict[str, list[dict]] = {"bfcl": [], "generated": [], "heldout": [], "heldout_perturbed": []}
    for seed, k in zip(SEEDS, per_seed, strict=True):
        out["bfcl"] += bfcl.sample(
            bfcl.default_data_dir(), config.bfcl_categories, k, rng_for(seed, "toolcall", "bfcl")
        )
        out["generated"] += toolcall_gen.generate(k, config.toolcall_categories, rng_for(seed, "toolcall", "generated"))
        held = heldout_entries(k, seed)
        out["heldout"] += [bfcl.to_task(e) for e in held]
        for start in range(0, k, BATCH_SIZE):  # as a round perturbs a batch's entries (distractors, values from it)
            batch = held[start : start + BATCH_SIZE]
            out["heldout_perturbed"] += feed_tasks(batch, len(batch), rng_for(seed, "toolcall", "feed", str(start)))
    for name, tasks in out.items():
        for index, task in enumerate(tasks):
            task["id"] = f"{name}-{index:05d}"
    return out


@contextlib.contextmanager
def lookup_blind_to_heldout(lookup: Any) -> Iterator[bool]:
    """The lookup with the held-out entries removed from its index (yields whether that could be done).

    The lookup indexes `bfcl.sampled_entries` through a cached `_index()`; it is handed a view of the `bfcl`
    module whose entries skip the held-out ones, and its cache is rebuilt on the way in and out."""
    index = getattr(lookup, "_index", None)
    real = getattr(lookup, "bfcl", None)
    if index is None or not hasattr(index, "cache_clear") or real is not bfcl:
        yield False
        return
    full = len(index()[0])
    view = types.SimpleNamespace(**vars(bfcl))
    view.sampled_entries = lambda data, category: [e for e in bfcl.sampled_entries(data, category) if not held_out(e)]
    lookup.bfcl = view
    index.cache_clear()
    try:
        yield len(index()[0]) < full
    finally:
        lookup.bfcl = real
        index.cache_clear()


def _scores(tasks: list[dict], answers: list[str], mode: str) -> list[float]:
    outcomes = [
        outcome_from_response(t["id"], {"choices": [{"message": {"content": a}}]})
        for t, a in zip(tasks, answers, strict=True)
    ]
    return [r.score for r in score_each(tasks, outcomes, ScoringConfig(toolcall_score=mode))]


def _answers(tasks: list[dict], strategy: Callable[[dict], str], memo_by_source: bool) -> list[str]:
    """Each task's answer; a task used as written (same source id, same bytes) is answered once."""
    memo: dict[str, str] = {}
    out = []
    for task in tasks:
        key = task["source"] if memo_by_source else task["id"]
        if key not in memo:
            memo[key] = strategy(task)
        out.append(memo[key])
    return out


def attack(tasks: list[dict], lookup_available: bool, memo_by_source: bool = False) -> dict[str, Any]:
    """{strategy: {mode: mean, "<mode>_by_category": {...}}} plus the routing shares, on one source."""
    from tests.support import adversaries

    names = ["grammar_inverter", "extract_values"] + (["bfcl_lookup"] if lookup_available else [])
    answers = {name: _answers(tasks, adversaries.ROUTED[name], memo_by_source) for name in names}
    routes = [adversaries.route(t) if lookup_available else _route_without_lookup(t) for t in tasks]
    answers["combined"] = [answers[r][i] for i, r in enumerate(routes)]
    answers["always_refuse"] = ["[]"] * len(tasks)
    out: dict[str, Any] = {"tasks": len(tasks), "routed_to": _shares(routes)}
    for mode in MODES:
        per = {name: _scores(tasks, a, mode) for name, a in answers.items()}
        per["best_of"] = [max(per[name][i] for name in names) for i in range(len(tasks))]
        for name, scores in per.items():
            row = out.setdefault(name, {})
            row[mode] = round(statistics.fmean(scores), 4)
            groups: dict[str, list[float]] = defaultdict(list)
            for task, score in zip(tasks, scores, strict=True):
                groups[task["category"]].append(score)
            row[f"{mode}_by_category"] = {c: round(statistics.fmean(v), 3) for c, v in sorted(groups.items())}
    return out


def _route_without_lookup(task: dict) -> str:
    from tests.support import grammar_inverter

    return "grammar_inverter" if grammar_inverter.knows(task) else "extract_values"


def _shares(routes: list[str]) -> dict[str, float]:
    return {r: round(routes.count(r) / len(routes), 4) for r in sorted(set(routes))}


def _combined_scores(tasks: list[dict], lookup_available: bool) -> dict[str, list[float]]:
    from tests.support import adversaries

    answers = [
        adversaries.combined(t) if lookup_available else adversaries.ROUTED[_route_without_lookup(t)](t) for t in tasks
    ]
    return {mode: _scores(tasks, answers, mode) for mode in MODES}


def feed_batch() -> Any:
    """A curator's batch of `FEED_BATCH` held-out entries (default BFCL category weights), sources `feed:...` as
    `harness.tasks.bfcl.pool_entries` labels a real batch's entries."""
    from harness.feed.tasks import FeedTasks

    entries = [{**e, "source": f"feed:{e['source']}"} for e in heldout_entries(FEED_BATCH, "bench-heldout-batch")]
    return FeedTasks(epoch=0, entries=tuple(entries), batch_sha256="0" * 64)


def rounds(lookup: Any, feed: bool, config: TasksConfig | None = None) -> dict[str, Any]:
    """The combined attack on whole rounds (one task set per seed; `config` defaults to `TasksConfig()`, the
    default mix); with `feed`, each round takes `config.feed_fraction` of its tasks from a batch of `FEED_BATCH`
    held-out entries through the real path (`build_family(..., feed=FeedTasks)`, perturbed or not as
    `config.feed_perturb` says), answered with the lookup blind to them."""
    config = config or TasksConfig()
    batch = feed_batch() if feed else None
    per_round: dict[str, list[float]] = {m: [] for m in MODES}
    feed_share: list[float] = []
    for seed in ROUND_SEEDS:
        tasks = (
            build_family(seed, "toolcall", config.toolcall_n, config, batch)["tasks"]
            if batch
            else (build_family(seed, "toolcall", config.toolcall_n, config)["tasks"])
        )
        from_feed = [t for t in tasks if t["source"].startswith("feed:")]
        local = [t for t in tasks if not t["source"].startswith("feed:")]
        scores = _combined_scores(local, lookup is not None)
        if from_feed:
            with lookup_blind_to_heldout(lookup) if lookup is not None else contextlib.nullcontext(False) as blind:
                feed_scores = _combined_scores(from_feed, blind)
            scores = {m: scores[m] + feed_scores[m] for m in MODES}
        feed_share.append(len(from_feed) / len(tasks))
        for mode in MODES:
            per_round[mode].append(round(statistics.fmean(scores[mode]), 4))
    return {
        "rounds": len(ROUND_SEEDS),
        "tasks_per_round": config.toolcall_n,
        "feed_share": round(statistics.fmean(feed_share), 4),
        **{mode: round(statistics.fmean(v), 4) for mode, v in per_round.items()},
        **{f"{mode}_min_max": [min(v), max(v)] for mode, v in per_round.items()},
    }


def with_feed(local: dict[str, float], feed: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in MODES:
        out[mode] = {str(f): round((1 - f) * local[mode] + f * feed[mode], 4) for f in FEED_FRACTIONS}
    gap = local["strict"] - feed["strict"]
    least = 0.0 if local["strict"] <= TARGET else ((local["strict"] - TARGET) / gap if gap > 0 else None)
    out["least_feed_fraction_for_strict_target"] = round(least, 3) if least is not None and least <= 1 else None
    if out["least_feed_fraction_for_strict_target"] is None:
        out["why_none"] = f"the feed tasks alone earn {feed['strict']} strict, above the target {TARGET}"
    return out


def run() -> dict:
    from tests.support import adversaries

    n = int(os.environ.get("HARNESS_BENCH_HELDOUT_TASKS", "2000"))
    lookup = adversaries.lookup_module()
    notes = []
    if lookup is None:
        notes.append("tests/support/bfcl_lookup.py is missing: no bfcl_lookup column; combined routes without it")
    tasks = sources(n)
    per_source = {
        "bfcl": attack(tasks["bfcl"], lookup is not None),
        "generated": attack(tasks["generated"], lookup is not None),
    }
    if lookup is None:
        per_source["heldout"] = attack(tasks["heldout"], False, memo_by_source=True)
        per_source["heldout_perturbed"] = attack(tasks["heldout_perturbed"], False)
    else:
        with lookup_blind_to_heldout(lookup) as blind:
            if not blind:
                notes.append("could not remove held-out entries from the lookup's index: heldout has no lookup column")
            per_source["heldout"] = attack(tasks["heldout"], blind, memo_by_source=True)
            per_source["heldout_perturbed"] = attack(tasks["heldout_perturbed"], blind)
    round_scores = rounds(lookup, feed=False)
    default = TasksConfig()
    real_feed: dict[str, Any] = rounds(lookup, feed=True) | {
        "feed_fraction": default.feed_fraction,
        "feed_perturb": default.feed_perturb,
    }
    alternatives = {name: rounds(lookup, True, TasksConfig(**fields)) | fields for name, fields in ALTERNATIVES.items()}
    heldout = per_source["heldout_perturbed" if default.feed_perturb else "heldout"]
    feed = {m: max(heldout[s][m] for s in ("combined", "extract_values", "bfcl_lookup") if s in heldout) for m in MODES}
    return {
        "tasks_per_source": n,
        "seeds": list(SEEDS),
        "heldout_pool": {
            "how": f"BFCL entries whose question words hash to 0 mod {HELDOUT_SHARE}, used as written, absent from "
            "the lookup's index: simulates a curator's private pool / feed that no attack has seen",
            "distinct_entries_used": len({t["source"] for t in tasks["heldout"]}),
            "heldout_perturbed": f"the same entries, perturbed per round as a feed round does "
            f"(`toolcall_family.feed_tasks`, batches of {BATCH_SIZE}: distractors and values from the batch)",
        },
        "per_source": per_source,
        "round_default_mix": round_scores,
        "round_with_feed_real_path": real_feed,
        "round_with_feed_real_path_alternatives": alternatives,
        "round_with_feed": {
            "how": "(1 - f) * round_default_mix + f * feed, feed = the best single attack on the feed tasks as the "
            "default treats them (heldout_perturbed when tasks.feed_perturb, else heldout: combined, extraction or "
            "lookup: a miner tunes its router to the feed share); computed here; round_with_feed_real_path builds "
            "real rounds with a feed batch at the default settings, round_with_feed_real_path_alternatives at others",
            "feed": feed,
            **with_feed({m: round_scores[m] for m in MODES}, feed),
        },
        "any2any_note": "an any2any round weighs toolcall 0.5 and caption 0.5: the attack's any2any score is "
        "0.5 x the toolcall score above plus half its caption score (captions are not attacked here)",
        "notes": notes,
        "strict_target": TARGET,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
