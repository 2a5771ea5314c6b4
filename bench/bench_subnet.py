"""A full subnet on one validator's budget: 256 hotkeys that commit, re-commit and copy over many epochs, judged
by the real supervisor, state store, schedule and aggregation on a simulated clock, with 1, 2, 8 and 32 slots.

What is real and what is scripted:
- Real: `Supervisor.run_round` (bounded by the epoch: `supervisor.block_time_s` = 12 s on a tempo-360 local
  chain), the SQLite state store, `harness.round.schedule`, `scoring.aggregate` / `scoring.comparisons` (winrate,
  the defaults), copies by content identity, the local chain (commitments at their blocks, weights).
- Scripted: the prepare and evaluate stages (`SimStages`): they return scores and move a simulated clock by the
  time a real evaluation of an 8B model would take (below). `SimExecutor` runs a round's jobs on N slots as a
  thread pool or Ray's `sandbox_slot` resource does (each job to the slot that frees first, in the schedule's
  order), on the simulated clock; nothing sleeps. With 32 slots that is the Ray executor's scheduling (one task
  per slot, FIFO); the fetch runs in the slot's time on every capacity (the Ray path; the local executor's
  prepare-ahead would hide part of it, so the local numbers here are conservative).

Evaluation time of one 8B model on one H100/H200 (seconds; each part log-normal, drawn from a hash of the model
and the epoch so that every run and every validator of one capacity sees the same draws):
- fetch 16 GB (bf16 8B) at a median 150 MB/s (sigma 0.5: 60-340 MB/s for the middle 90 %), only when the model
  is not in the validator's cache (64 models, about 1 TB): huggingface_hub's own client saturates ordinary links
  and `hf_transfer` exists "to go beyond ~500MB/s" (pypi.org/project/hf-transfer), so 150 MB/s is a datacenter
  link below that; median 107 s.
- engine start: median 90 s (sigma 0.25): loading 16 GB of safetensors from local disk plus CUDA graph capture,
  which alone "takes up to a minute" (vLLM PR 29275; sglang's startup is the same serial load-then-capture,
  sglang PR 32017).
- tasks: a few hundred tool-call tasks, median 150 s (sigma 0.4); 5 % of models answer at maximum length (x4).
  Llama-3.1-8B-Instruct on one H100 serves about 4,700 output tokens/s at concurrency 25 (NVIDIA NIM 1.8.0
  benchmarks, docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance): 300 tasks x ~100 output tokens is ~7 s of
  decoding at that rate; prompts with tool schemas (~1-2k tokens each), sglang's deterministic mode and the
  harness's bounded concurrency make it slower, so 150 s is a cautious median.
Median total: ~350 s for a fresh model, ~250 s for a cached one: about 12-17 evaluations per slot in a 72-minute
epoch. `TASKS` tasks are recorded per evaluation (a sample that stands in for the few hundred: the store and
the comparisons see real per-task data, and the run stays within minutes).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, TypeVar

from chain.base import CommitmentRecord
from chain.commitment import format as format_commitment
from chain.local import LocalChain
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest
from harness.logging import configure_logging
from harness.models.prepare import PreparedModel
from harness.round.executors.base import ModelJob, ModelStages
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store

T = TypeVar("T")

TEMPO = 360
BLOCK_S = 12.0
EPOCH_S = TEMPO * BLOCK_S
MINERS = 256
EPOCHS = 48
TASKS = 32
SLOTS = (1, 2, 8, 32)
SEED = 20261205
CACHE_MODELS = 64
MODEL_BYTES = 16e9
NEW_LEADER_EPOCH = 10
NORMAL = NormalDist()


def unit(*parts: object) -> float:
    """A number in (0, 1) from a hash of `parts`: the same on every run and machine."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def lognormal(median: float, sigma: float, *parts: object) -> float:
    return median * math.exp(sigma * NORMAL.inv_cdf(unit(*parts)))


class SimClock:
    """The simulated clock (seconds): moved by the scripted stages and the executor, never by waiting."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


class SimExecutor:
    """N slots on the simulated clock: each job, in the order given, goes to the slot that is free first (the
    lower index on a tie) and starts at that slot's time; the job's stages move the clock by what they take.
    Prepare runs in the slot (as on a Ray worker)."""

    prepares_on_head = False

    def __init__(self, clock: SimClock, slots: int) -> None:
        self.clock = clock
        self.slots = slots

    def __len__(self) -> int:
        return self.slots

    def stages(self, job: ModelJob, here: ModelStages, *, heartbeat: Callable[[], None], stop: Any) -> ModelStages:
        return here

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        free = [self.clock.t] * self.slots
        results = []
        for job in jobs:
            slot = min(range(self.slots), key=lambda k: (free[k], k))
            self.clock.t = free[slot]
            results.append(job())
            free[slot] = self.clock.t
        self.clock.t = max(free)
        return results


@dataclass(frozen=True)
class Model:
    """One committed model: its content identity and true skill (the chance-free part of its task scores)."""

    identity: str
    skill: float
    slow: bool = False


@dataclass(frozen=True)
class Commit:
    block: int
    hotkey: str
    model: Model
    kind: str  # "first", "recommit", "copy", "challenger"


def scenario(miners: int = MINERS, epochs: int = EPOCHS, seed: int = SEED) -> list[Commit]:
    """Who commits what and when: three quarters of the hotkeys in the epoch before the first round, the rest
    over the first half; each epoch about 3 % re-commit an improved or different model and two hotkeys copy the
    best model committed so far; in epoch `NEW_LEADER_EPOCH` one hotkey commits a truly better model."""
    rng = random.Random(seed)
    hotkeys = [f"hk{i:03d}" for i in range(miners)]
    current: dict[str, Model] = {}
    commits: list[Commit] = []
    counter = 0

    def fresh(skill: float) -> Model:
        nonlocal counter
        counter += 1
        return Model(f"m{counter:05d}", min(max(skill, 0.05), 0.95), rng.random() < 0.05)

    def block_in(epoch: int) -> int:
        return epoch * TEMPO + rng.randrange(1, TEMPO)

    early = miners * 3 // 4
    for hotkey in hotkeys[:early]:
        commits.append(Commit(block_in(0), hotkey, fresh(0.3 + 0.3 * rng.random()), "first"))
    late = {h: rng.randrange(1, max(epochs // 2, 2)) for h in hotkeys[early:]}
    for epoch in range(epochs):
        for hotkey in hotkeys[early:]:
            if late[hotkey] == epoch:
                commits.append(Commit(block_in(epoch), hotkey, fresh(0.3 + 0.3 * rng.random()), "first"))
        if epoch == 0:
            continue
        for c in sorted(commits, key=lambda c: c.block):
            if c.block < epoch * TEMPO:
                current[c.hotkey] = c.model
        committed = sorted(current)
        for hotkey in committed:
            if rng.random() < 0.03:
                skill = current[hotkey].skill + rng.gauss(0.01, 0.03)
                commits.append(Commit(block_in(epoch), hotkey, fresh(skill), "recommit"))
        best = max(current.values(), key=lambda m: (m.skill, m.identity))
        for hotkey in rng.sample(committed, 2):
            if current[hotkey] is not best:
                commits.append(Commit(block_in(epoch), hotkey, best, "copy"))
        if epoch == NEW_LEADER_EPOCH:
            hotkey = rng.choice(committed)
            commits.append(Commit(block_in(epoch), hotkey, fresh(best.skill + 0.2), "challenger"))
    return sorted(commits, key=lambda c: (c.block, c.hotkey))


def salted_hash(hotkey: str, identity: str) -> str:
    return hashlib.sha256(f"{hotkey}:{identity}".encode()).hexdigest()


class SimStages:
    """Scripted prepare and evaluate: the content identity a commitment's hash stands for, task scores from the
    model's skill, and the simulated time each takes (module docstring)."""

    def __init__(self, clock: SimClock, models: dict[str, Model], tasks: int = TASKS) -> None:
        self.clock = clock
        self.models = models  # salted content hash -> model
        self.by_identity = {m.identity: m for m in models.values()}
        self.tasks = tasks
        self.cache: OrderedDict[str, None] = OrderedDict()

    def prepare(self, record: CommitmentRecord, _settings: Settings) -> PreparedModel:
        assert record.commitment is not None
        model = self.models[record.commitment.content_hash]
        if model.identity in self.cache:
            self.cache.move_to_end(model.identity)
        else:
            rate = lognormal(150e6, 0.5, "fetch", model.identity, self.clock.t // EPOCH_S)
            self.clock.t += MODEL_BYTES / rate
            self.cache[model.identity] = None
            while len(self.cache) > CACHE_MODELS:
                self.cache.popitem(last=False)
        return PreparedModel(model_dir=Path("/nonexistent") / model.identity, identity=model.identity)

    def evaluate(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        model = self.by_identity[prepared.identity]
        took = lognormal(90, 0.25, "start", model.identity, request.seed)
        took += lognormal(150, 0.4, "tasks", model.identity, request.seed) * (4 if model.slow else 1)
        end = self.clock.t + took
        answered = self.tasks if end <= request.deadline else int(self.tasks * (request.deadline - self.clock.t) / took)
        self.clock.t = min(end, max(request.deadline, self.clock.t))
        total = 0.0
        for index in range(self.tasks):
            task = f"t{index}"
            if task in request.done:
                total += float(request.done[task]["score"])
                continue
            score = task_score(model, request.seed, task) if index < answered else 0.0
            request.record(task, score, None)
            total += score
        return EvaluationOutcome(total / self.tasks, {"budget_exceeded": answered < self.tasks})


def task_score(model: Model, seed: str, task: str) -> float:
    """1 when the model's skill (plus a little per-model noise) clears the task's difficulty, which every model
    shares: paired comparisons then see mostly the difference in skill."""
    difficulty = unit("difficulty", seed, task)
    noise = (unit("noise", model.identity, seed, task) - 0.5) * 0.2
    return 1.0 if difficulty < model.skill + noise else 0.0


@dataclass
class Run:
    """One validator's run: what it set each epoch and what its store says."""

    slots: int
    weights_epochs: list[int] = field(default_factory=list)
    leaders: dict[int, str] = field(default_factory=dict)
    weights: dict[int, dict[str, float]] = field(default_factory=dict)
    evaluations: int = 0
    first_evaluation_waits: list[int] = field(default_factory=list)
    launch_waits: list[int] = field(default_factory=list)  # commitments of the launch wave (eligible in epoch 1)
    never_evaluated: int = 0
    superseded_unevaluated: int = 0
    max_score_age: int = 0
    new_leader_epochs: int | None = None
    left_in_epoch_s: list[float] = field(default_factory=list)  # seconds of its epoch left when a round set weights
    wall_s: float = 0.0


def simulate(
    slots: int, base: Path, *, miners: int = MINERS, epochs: int = EPOCHS, budget_s: float | None = None
) -> Run:
    """One validator with `slots` slots through `epochs` epochs of the scenario (`budget_s`: a fixed round
    budget instead of the epoch's; 0: unbounded rounds, as before budgets)."""
    started = time.perf_counter()
    commits = scenario(miners, epochs)
    base.mkdir(parents=True, exist_ok=True)
    chain = LocalChain(base / "chain.sqlite", block_period_s=0, tempo=TEMPO)
    for index in range(miners):
        chain.register(f"hk{index:03d}")
    clock = SimClock()
    models = {salted_hash(c.hotkey, c.model.identity): c.model for c in commits}
    stages = SimStages(clock, models)
    supervisor_config: dict[str, Any] = {"block_time_s": BLOCK_S, "weights_margin_s": 300.0}
    if budget_s is not None:
        supervisor_config["round_budget_s"] = budget_s
    settings = Settings(cache_dir=base / "cache", supervisor=supervisor_config)
    store = Store(base / "state.sqlite")
    supervisor = Supervisor(
        settings,
        chain,
        store,
        executor=SimExecutor(clock, slots),
        evaluate=stages.evaluate,
        prepare=stages.prepare,
        clock=clock.now,
    )
    pending = list(commits)
    run = Run(slots)
    uid_hotkey = {n.uid: n.hotkey for n in chain.neurons()}

    def chain_to(block: int) -> None:
        while pending and pending[0].block <= block:
            c = pending.pop(0)
            chain.advance(c.block - chain.current_block())
            chain.commit(
                c.hotkey,
                format_commitment(f"org/{c.model.identity}", "a" * 40, salted_hash(c.hotkey, c.model.identity)),
            )
        chain.advance(block - chain.current_block())

    for epoch in range(1, epochs + 1):
        clock.t = max(clock.t, epoch * EPOCH_S + BLOCK_S)  # the service starts a round a block into the epoch
        if clock.t >= (epoch + 1) * EPOCH_S:
            continue  # the previous round ran through this whole epoch
        chain_to(int(clock.t // BLOCK_S))
        round_id = supervisor.run_round()
        done_epoch = int(clock.t // EPOCH_S)
        record = store.read.weights_for(round_id)
        if record is None:
            continue
        run.weights_epochs.append(done_epoch)
        run.left_in_epoch_s.append((epoch + 1) * EPOCH_S - clock.t)
        weights = {uid_hotkey[u]: w for u, w in zip(record["uids"], record["weights"], strict=True)}
        run.weights[done_epoch] = weights
        run.leaders[done_epoch] = max(sorted(weights), key=lambda h: weights[h])
    chain_to(int(clock.t // BLOCK_S))
    _measure(run, store, commits, epochs)
    store.close()
    chain.close()
    run.wall_s = time.perf_counter() - started
    return run


def _measure(run: Run, store: Store, commits: list[Commit], epochs: int) -> None:
    """Waits for first evaluations, score ages and the new leader's epochs, from the store's visits."""
    rows = store._query(
        """SELECT m.hotkey, m.commit_block, v.epoch FROM schedule_visits v JOIN models m ON m.id = v.model_id
           WHERE v.outcome='evaluated' ORDER BY v.epoch"""
    )
    evaluated: dict[tuple[str, int], list[int]] = {}
    for hotkey, block, epoch in rows:
        evaluated.setdefault((str(hotkey), int(block)), []).append(int(epoch))
    run.evaluations = len(rows)
    by_hotkey: dict[str, list[Commit]] = {}
    for c in commits:
        by_hotkey.setdefault(c.hotkey, []).append(c)
    for hotkey, own in by_hotkey.items():
        for index, c in enumerate(own):
            eligible = -(-c.block // TEMPO)
            if eligible > epochs or c.kind == "copy":
                continue
            until = (-(-own[index + 1].block // TEMPO) - 1) if index + 1 < len(own) else epochs
            if until < eligible:
                continue  # replaced before any round could see it
            epochs_evaluated = evaluated.get((hotkey, c.block), [])
            if not epochs_evaluated:
                if until < epochs:
                    run.superseded_unevaluated += 1
                    continue
                run.never_evaluated += 1
                waits = run.launch_waits if eligible <= 1 else run.first_evaluation_waits
                waits.append(epochs + 1 - eligible)  # censored: at least this long
                continue
            waits = run.launch_waits if eligible <= 1 else run.first_evaluation_waits
            waits.append(epochs_evaluated[0] - eligible)
            seen = sorted(set(epochs_evaluated))
            marks = [*seen, until + 1]
            run.max_score_age = max([run.max_score_age] + [b - a - 1 for a, b in itertools.pairwise(marks)])
            if c.kind == "challenger":
                led = [e for e, leader in sorted(run.leaders.items()) if e >= eligible and leader == hotkey]
                run.new_leader_epochs = led[0] - (c.block // TEMPO) if led else None


def percentile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])


def max_gap(epochs_with_weights: list[int], first: int, last: int) -> int:
    """The most epochs from one weights-setting to the next (1: every epoch), over [first, last]."""
    marks = [first - 1, *sorted(set(epochs_with_weights)), last + 1]
    return max(b - a for a, b in itertools.pairwise(marks))


def summary(run: Run, reference: Run | None, epochs: int) -> dict[str, Any]:
    common = sorted(set(run.leaders) & set(reference.leaders)) if reference is not None else []
    agree = sum(run.leaders[e] == reference.leaders[e] for e in common) if reference is not None else 0
    return {
        "max_epochs_between_weights": max_gap(run.weights_epochs, 1, epochs),
        "epochs_with_weights": len(set(run.weights_epochs)),
        "min_s_left_in_epoch_at_weights": round(min(run.left_in_epoch_s), 1) if run.left_in_epoch_s else None,
        "p95_epochs_to_first_evaluation": percentile(run.first_evaluation_waits, 0.95),
        "median_epochs_to_first_evaluation": percentile(run.first_evaluation_waits, 0.5),
        "p95_epochs_to_first_evaluation_launch_wave": percentile(run.launch_waits, 0.95),
        "never_evaluated_at_end": run.never_evaluated,
        "replaced_before_evaluated": run.superseded_unevaluated,
        "max_score_age_epochs": run.max_score_age,
        "epochs_to_new_leader": run.new_leader_epochs,
        "leader_agreement_with_8_slots": round(agree / len(common), 3) if common else None,
        "evaluations": run.evaluations,
        "evaluations_per_epoch": round(run.evaluations / epochs, 1),
        "sim_wall_s": round(run.wall_s, 1),
    }


def run() -> dict[str, Any]:
    configure_logging("warning")  # thousands of rounds' info lines would cost more than the rounds
    with tempfile.TemporaryDirectory(prefix="bench-subnet-", dir=_fast_tmp()) as tmp:
        base = Path(tmp)
        runs = {slots: simulate(slots, base / f"slots-{slots}") for slots in SLOTS}
        twin = simulate(2, base / "twin-2")
        unbounded = simulate(1, base / "unbounded-1", budget_s=0.0)
    reference = runs[8]
    identical = twin.weights == runs[2].weights
    return {
        "miners": MINERS,
        "epochs": EPOCHS,
        "tempo": TEMPO,
        "block_s": BLOCK_S,
        "tasks_recorded_per_evaluation": TASKS,
        "new_leader_committed_in_epoch": NEW_LEADER_EPOCH,
        "slots": {str(slots): summary(r, reference, EPOCHS) for slots, r in runs.items()},
        "two_validators_2_slots_identical_weights_every_epoch": identical,
        "unbounded_rounds_1_slot": {
            "max_epochs_between_weights": max_gap(unbounded.weights_epochs, 1, EPOCHS),
            "epochs_with_weights": len(set(unbounded.weights_epochs)),
        },
        "evaluation_time_model_s": {
            "fetch_16GB_median": round(MODEL_BYTES / 150e6),
            "engine_start_median": 90,
            "tasks_median": 150,
            "slow_models_share": 0.05,
            "cache_models": CACHE_MODELS,
        },
        "definitions": {
            "max_epochs_between_weights": "most epochs from one weights-setting to the next (1: every epoch)",
            "min_s_left_in_epoch_at_weights": "the fewest seconds of its epoch a round had left when it set weights "
            "(negative: late, in the next epoch)",
            "epochs_to_first_evaluation": "epoch of the round that first evaluated a commitment minus its first "
            "eligible epoch (0: its first round), over commitments made after the launch (the launch wave, "
            f"{MINERS * 3 // 4} commitments eligible at once in epoch 1, is reported apart); copies are not "
            "evaluated and not counted; never evaluated by the end counts as censored at the end",
            "max_score_age_epochs": "most epochs between two evaluations of one commitment while it was current",
            "epochs_to_new_leader": "epochs from the truly better model's commit to the first epoch it leads",
            "leader_agreement_with_8_slots": "share of epochs in which this capacity and 8 slots weight the same "
            "hotkey highest",
        },
    }


def _fast_tmp() -> str | None:
    """A RAM-backed temporary directory where there is one (the store is real SQLite either way)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None
