"""Rounds bounded by a budget (issue 26): the real supervisor, store, schedule and local chain on a simulated
clock (`bench.bench_subnet`'s clock, slots and scripted stages), so a round of many minutes runs in milliseconds."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.bench_subnet import (
    EPOCH_S,
    TEMPO,
    Model,
    SimClock,
    SimExecutor,
    SimStages,
    salted_hash,
    simulate,
)
from chain.base import CommitmentRecord
from chain.commitment import format as format_commitment
from chain.local import LocalChain
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest
from harness.models.prepare import PreparedModel
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store
from tests.support.rounds import Stages, commit


def _validator(tmp_path: Path, name: str, chain: LocalChain, models: dict[str, Model], slots: int, **config: Any):
    clock = SimClock(EPOCH_S + 12.0)
    stages = SimStages(clock, models, tasks=8)
    settings = Settings(cache_dir=tmp_path / "cache", supervisor=config)
    sup = Supervisor(
        settings,
        chain,
        Store(tmp_path / f"{name}.sqlite"),
        executor=SimExecutor(clock, slots),
        evaluate=stages.evaluate,
        prepare=stages.prepare,
        clock=clock.now,
    )
    return sup, clock


def _chain(tmp_path: Path, count: int) -> tuple[LocalChain, dict[str, Model]]:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=TEMPO)
    models: dict[str, Model] = {}
    for index in range(count):
        hotkey = f"hk{index}"
        model = Model(f"m{index}", 0.3 + 0.05 * index)
        models[salted_hash(hotkey, model.identity)] = model
        chain.register(hotkey)
        chain.commit(hotkey, format_commitment(f"org/m{index}", "a" * 40, salted_hash(hotkey, model.identity)))
        chain.advance(1)
    chain.advance(TEMPO + 1 - chain.current_block())  # one block into epoch 1
    return chain, models


def _evaluated(sup: Supervisor, round_id: int) -> list[str]:
    read = sup.store.read
    return sorted(read.get_model(e.model_id).hotkey for e in read.evaluations(round_id) if e.status == "done")


def test_a_round_over_budget_sets_weights_and_the_next_round_takes_the_rest_first(tmp_path: Path) -> None:
    chain, models = _chain(tmp_path, 6)
    sup, clock = _validator(tmp_path, "v", chain, models, 1, round_budget_s=1200.0, leaders_per_round=1)
    started = clock.t
    first = sup.run_round()
    # a download started before the deadline runs to its end (`weights_margin_s` covers it on the epoch's clock);
    # no evaluation outlives the deadline
    assert clock.t <= started + 1200.0 + 600.0, "the round ran past its budget by more than one download"
    done = _evaluated(sup, first)
    assert 1 <= len(done) < 6
    assert sup.store.read.weights_for(first) is not None, "no weights for a round that could not evaluate everyone"
    failures = {(f["stage"], f["class"]) for f in sup.store.read.failures(first)}
    assert ("schedule", "carried") in failures
    assert sup.store.read.round_schedule(first)["budget_s"] == pytest.approx(1200.0)

    chain.advance(TEMPO)
    clock.t += EPOCH_S
    second = sup.run_round()
    again = _evaluated(sup, second)
    carried = sorted(set(f"hk{i}" for i in range(6)) - set(done))
    assert again[: len(carried)] != [] and set(again) & set(carried), "the carried models were not taken up"
    order = [sup.store.read.get_model(e.model_id).hotkey for e in sup.store.read.evaluations(second)]
    assert order[0] == carried[0], "a model never evaluated must come before the re-checked ones"
    ages = {row["hotkey"]: row["age_epochs"] for row in sup.store.read.status()["standings"]}
    assert all(age is None or age >= 0 for age in ages.values()) and any(age == 0 for age in ages.values())


def test_an_evaluation_cut_by_the_deadline_is_discarded_not_scored(tmp_path: Path) -> None:
    chain, models = _chain(tmp_path, 2)
    sup, _clock = _validator(tmp_path, "v", chain, models, 1, round_budget_s=200.0)
    round_id = sup.run_round()  # fetch alone takes about 100 s: the first evaluation cannot finish in 200 s
    evaluations = sup.store.read.evaluations(round_id)
    assert evaluations and all(e.status == "failed" and e.details["class"] == "deadline" for e in evaluations)
    assert sup.store.read.round_task_scores(round_id) == {}, "a cut evaluation's tasks reached the comparisons"
    assert sup.store.read.last_visits() == {}, "a cut evaluation counted as a visit: the model would not be first"


def test_a_recommit_within_the_cooldown_waits_behind_a_new_hotkey(tmp_path: Path) -> None:
    """The store's history reaches the schedule: hk0, visited last epoch, re-commits a fresh model before a new
    hotkey commits; the new hotkey's model goes first. With the cooldown off, the re-commit would, being earlier."""
    for cooldown, first in ((3, "hk-new"), (0, "hk0")):
        root = tmp_path / f"cooldown{cooldown}"
        chain, models = _chain(root, 2)
        sup, clock = _validator(root, "v", chain, models, 1, recommit_cooldown_epochs=cooldown, leaders_per_round=0)
        sup.run_round()
        for hotkey, name in (("hk0", "m0-v2"), ("hk-new", "m-new")):
            model = Model(name, 0.5)
            models[salted_hash(hotkey, model.identity)] = model
            if hotkey == "hk-new":
                chain.register(hotkey)
            chain.commit(hotkey, format_commitment(f"org/{name}", "b" * 40, salted_hash(hotkey, model.identity)))
            chain.advance(1)
        chain.advance(2 * TEMPO + 1 - chain.current_block())
        clock.t += EPOCH_S
        second = sup.run_round()
        order = [sup.store.read.get_model(e.model_id).hotkey for e in sup.store.read.evaluations(second)]
        assert order[0] == first, (cooldown, order)


def test_the_epoch_deadline_comes_from_tempo_and_block_time(tmp_path: Path) -> None:
    chain, models = _chain(tmp_path, 40)
    sup, clock = _validator(tmp_path, "v", chain, models, 1, block_time_s=12.0, weights_margin_s=300.0)
    started = clock.t
    sup.run_round()
    epoch_end = started + (2 * TEMPO - chain.current_block()) * 12.0
    assert clock.t <= epoch_end - 300.0 + 1e-6
    assert sup.store.read.round_schedule(1)["reached"] < 40


def test_without_a_block_time_the_local_chain_rounds_are_unbounded(tmp_path: Path) -> None:
    chain, models = _chain(tmp_path, 5)
    sup, _clock = _validator(tmp_path, "v", chain, models, 1)
    assert len(_evaluated(sup, sup.run_round())) == 5


def test_more_slots_evaluate_a_superset_in_the_same_order(tmp_path: Path) -> None:
    chain, models = _chain(tmp_path, 30)
    small, _ = _validator(tmp_path, "one", chain, models, 1, round_budget_s=2400.0)
    large, _ = _validator(tmp_path, "eight", chain, models, 8, round_budget_s=2400.0)
    one, eight = _evaluated(small, small.run_round()), _evaluated(large, large.run_round())
    assert set(one) < set(eight)


def test_two_validators_with_the_same_capacity_set_identical_weights_every_epoch(tmp_path: Path) -> None:
    a = simulate(2, tmp_path / "a", miners=24, epochs=6)
    b = simulate(2, tmp_path / "b", miners=24, epochs=6)
    assert len(a.weights) == 6 and a.weights == b.weights
    assert max(a.weights_epochs) == 6 and sorted(a.weights_epochs) == list(range(1, 7)), "an epoch without weights"


class FixedStages:
    """Every model takes the same simulated time: `fetch_s` to prepare, `evaluate_s` to evaluate (cut at the
    request's deadline, as the real stages are)."""

    def __init__(self, clock: SimClock, models: dict[str, Model], fetch_s: float, evaluate_s: float) -> None:
        self.sim = SimStages(clock, models, tasks=4)
        self.clock, self.fetch_s, self.evaluate_s = clock, fetch_s, evaluate_s

    def prepare(self, record: CommitmentRecord, settings: Settings) -> PreparedModel:
        self.clock.t += self.fetch_s
        assert record.commitment is not None
        return PreparedModel(
            model_dir=Path("/nonexistent"), identity=self.sim.models[record.commitment.content_hash].identity
        )

    def evaluate(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        start = self.clock.t
        outcome = self.sim.evaluate(prepared, request)  # records the tasks; its own timing is replaced below
        self.clock.t = min(start + self.evaluate_s, max(request.deadline, start))
        cut = start + self.evaluate_s > request.deadline
        return EvaluationOutcome(outcome.score, {"budget_exceeded": cut})


def test_no_model_starts_when_less_is_left_than_a_model_takes(tmp_path: Path) -> None:
    """A download that starts just before the deadline would set the weights late (the 1-slot simulation missed
    an epoch so): once a model's duration is known, a round starts none with less than that left."""
    chain, models = _chain(tmp_path, 8)
    clock = SimClock(EPOCH_S + 12.0)
    stages = FixedStages(clock, models, fetch_s=250.0, evaluate_s=50.0)  # 300 s a model, mostly download
    settings = Settings(cache_dir=tmp_path / "cache", supervisor={"round_budget_s": 1000.0})
    sup = Supervisor(
        settings,
        chain,
        Store(tmp_path / "v.sqlite"),
        executor=SimExecutor(clock, 1),
        evaluate=stages.evaluate,
        prepare=stages.prepare,
        clock=clock.now,
    )
    started = clock.t
    round_id = sup.run_round()
    assert clock.t <= started + 1000.0, "a download started 100 s before the deadline ran 150 s past it"
    assert len(_evaluated(sup, round_id)) == 3  # at 0, 300 and 600 s; at 900 s only 100 s were left
    carried = [f["reason"] for f in sup.store.read.failures(round_id) if f["class"] == "carried"]
    assert carried and "5 not started" in carried[0] and "300 s" in carried[0]


def test_the_wait_for_a_download_ends_at_the_deadline_and_weights_are_not_late(
    tmp_path: Path, chain: LocalChain
) -> None:
    """On this host (prepared ahead in threads): a download still running at the deadline is not waited for;
    the model is carried and the weights set, while the download goes on in its thread."""
    commit(chain, "fast", "org/fast", "1")
    commit(chain, "slow", "org/slow", "2")
    stages = Stages({"fast": "id-fast", "slow": "id-slow"}, {"fast": 0.7, "slow": 0.9})
    weights_set = threading.Event()
    original_prepare = stages.prepare

    def prepare(record: CommitmentRecord, settings: Settings) -> PreparedModel:
        if record.hotkey == "slow":  # a long download: it ends only once weights are set (or after 30 s)
            weights_set.wait(30.0)
        return original_prepare(record, settings)

    original_set_weights = chain.set_weights

    def set_weights(uids: list[int], weights: list[float]) -> Any:
        weights_set.set()
        return original_set_weights(uids, weights)

    chain.set_weights = set_weights  # type: ignore[method-assign]
    settings = Settings(cache_dir=tmp_path / "cache", supervisor={"round_budget_s": 3.0, "prepare_ahead": 1})
    sup = Supervisor(
        settings, chain, Store(tmp_path / "s.sqlite"), executor=single_slot(), evaluate=stages.evaluate, prepare=prepare
    )
    began = time.monotonic()
    round_id = sup.run_round()
    assert weights_set.is_set() and time.monotonic() - began < 25.0, "the round waited for the download"
    assert "slow" not in stages.evaluated
    assert sup.store.read.weights_for(round_id) is not None
    assert ("schedule", "carried") in {(f["stage"], f["class"]) for f in sup.store.read.failures(round_id)}
    assert all(sup.store.read.get_model(m).hotkey != "slow" for m in sup.store.read.last_visits())
