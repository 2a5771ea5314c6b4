"""A budgeted round for real (issue 26, "Done when" 3): three SmolLM2 variants fetched from the local Hub mirror,
checked by policy and evaluated in real CPU sandboxes, on the local chain, by a round whose budget is smaller
than its models: the round sets weights at the budget's end, records the models it carried, and the next round
evaluates the carried models first.

Kept deterministic on a slow shared host and in CI alike: a first round (no budget) evaluates one model, so it
has a moving standing; the budgeted round's budget (`BUDGET_S`) is shorter than any download and evaluation, so
its first model's wait for its download ends at the deadline and nothing is evaluated (which models fit a larger
budget would depend on the host's speed); weights come from the standings all the same. The next round (one
model's worth: `max_models_per_round = 1`) must take a carried, never-evaluated model before the leader.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.bench_round import publish_and_commit
from harness.demo.bundled_models import smollm2_degraded_dir
from harness.demo.hub_mirror import MirrorServer
from harness.round.service import build_supervisor
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from tests.support.nearcopy import nearcopy_dir
from tests.support.rounds import sandbox_round_settings

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

TASKS = 4
BUDGET_S = 0.5  # less than any model's policy check and download
LATE_S = 30.0  # what may pass after the deadline before weights are set: the store, aggregation, the chain


def _settings(tmp_path: Path, endpoint: str) -> Settings:
    return sandbox_round_settings(
        tmp_path,
        endpoint,
        TASKS,
        "sandbox.cpu_slots=1",
        "evaluation.max_tokens=32",
        "evaluation.request_timeout_s=300",
        "supervisor.leaders_per_round=3",
    )


def _evaluated_in_order(supervisor: Supervisor, round_id: int) -> list[tuple[str, str]]:
    """(hotkey, status) of the round's evaluations, in the order they started."""
    read = supervisor.store.read
    rows = sorted(read.evaluations(round_id), key=lambda e: e.id)
    return [(read.get_model(e.model_id).hotkey, e.status) for e in rows]


def _next_round(supervisor: Supervisor, **config: float) -> tuple[int, float]:
    """A round of the next epoch (tempo 1: the next block) with `config` set on the supervisor's settings."""
    for name, value in config.items():
        setattr(supervisor.config, name, value)
    supervisor.chain.advance(1)
    began = time.monotonic()
    round_id = supervisor.run_round()
    return round_id, time.monotonic() - began


def test_a_round_over_budget_sets_weights_then_the_next_round_takes_the_carried_models_first(
    tmp_path: Path, smollm2: Path, cache_dir: Path
) -> None:
    models = [
        ("first", smollm2, "org/smollm2"),
        ("second", smollm2_degraded_dir(cache_dir), "org/smol-degraded"),
        ("third", nearcopy_dir(smollm2, cache_dir), "org/smol-nc"),
    ]
    (tmp_path / "mirror").mkdir()
    with MirrorServer(tmp_path / "mirror") as mirror:
        settings = _settings(tmp_path, mirror.url)
        publish_and_commit(settings, models[:1])
        supervisor = build_supervisor(settings)
        read = supervisor.store.read
        opening = supervisor.run_round()  # no budget: the one model, which earns a moving standing
        assert _evaluated_in_order(supervisor, opening) == [("first", "done")], read.failures(opening)

        publish_and_commit(settings, models[1:])
        budgeted, wall = _next_round(supervisor, round_budget_s=BUDGET_S)
        assert wall <= BUDGET_S + LATE_S, f"weights came {wall - BUDGET_S:.0f} s after the {BUDGET_S:g}-s budget"
        weights = read.weights_for(budgeted)
        assert weights is not None, "no weights from a round over its budget"
        assert weights["receipt"]["mode"] == "scores", "the carried leader's standing did not earn its weight"
        carried = [f["reason"] for f in read.failures(budgeted) if (f["stage"], f["class"]) == ("schedule", "carried")]
        assert carried and carried[0].startswith("3 of 3 eligible"), read.failures(budgeted)
        # its download outlasts the budget: not evaluated (on a host fast enough to download it within 0.5 s the
        # evaluation starts and the deadline cuts it: discarded, the model carried all the same)
        cut = [e.details.get("class") for e in read.evaluations(budgeted)]
        assert all(c == "deadline" for c in cut), read.failures(budgeted)
        assert read.last_visits().keys() == {read.evaluations(opening)[0].model_id}

        resumed, _ = _next_round(supervisor, round_budget_s=0.0, max_models_per_round=1)
        assert _evaluated_in_order(supervisor, resumed) == [("second", "done")], read.failures(resumed)
        assert read.weights_for(resumed) is not None
    standings = {row["hotkey"]: row for row in read.status()["standings"]}
    assert standings["first"]["last_evaluated_epoch"] is not None and standings["first"]["age_epochs"] >= 1
