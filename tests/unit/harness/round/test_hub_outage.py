"""A Hub outage is not a verdict: a model whose metadata could not be read keeps its standing and is tried again.

The failing read goes through the real prepare stage (the policy check in its worker process, against a Hub
address where nothing listens), so what is pinned is the whole path: the worker's answer keeps the error's type,
prepare turns it into a retryable `unreachable` failure, and the round records no verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.base import CommitmentRecord
from chain.local import LocalChain
from harness.models.prepare import PreparedModel, prepare_record
from harness.settings.root import Settings
from policies.config import HubConfig
from tests.support.rounds import Stages, commit, dead_hub_url, scripted_supervisor, weights_by_hotkey


class HubDownFor:
    """Scripted stages, except that `hotkey`'s prepare runs the real stage against a Hub that does not answer
    while `down` is set."""

    def __init__(self, stages: Stages, hotkey: str, tmp_path: Path) -> None:
        self.stages = stages
        self.hotkey = hotkey
        self.down = True
        hub = HubConfig(endpoint=dead_hub_url(), attempts=2, retry_wait_s=0.01, timeout_s=2.0)
        self.settings = Settings(cache_dir=tmp_path / "outage-cache", hub=hub)

    def prepare(self, record: CommitmentRecord, settings: Settings) -> PreparedModel:
        if self.down and record.hotkey == self.hotkey:
            return prepare_record(record, self.settings)
        return self.stages.prepare(record, settings)


def test_a_model_whose_hub_read_failed_keeps_its_standing_and_is_scored_next_round(
    tmp_path: Path, chain: LocalChain
) -> None:
    commit(chain, "a", "org/a", "1")
    commit(chain, "b", "org/b", "2")
    stages = Stages({"a": "ia", "b": "ib"}, {"a": 0.8, "b": 0.4})
    sup = scripted_supervisor(tmp_path, chain, stages)
    sup.run_round()
    outage = HubDownFor(stages, "a", tmp_path)
    sup.prepare = outage.prepare

    chain.advance(1)
    second = sup.run_round()
    read = sup.store.read
    (failure,) = read.failures(second)
    assert (failure["stage"], failure["class"]) == ("prepare", "unreachable")
    assert "unreachable" in failure["reason"]
    assert {m["repo"]: m["allowed"] for m in read.report(second)["models"]} == {"org/b": True}, "a verdict on a"
    assert read.moving_scores(second)[("a", "ia")] == pytest.approx(0.8), "its moving score moved"
    assert weights_by_hotkey(chain) == {"a": pytest.approx(2 / 3), "b": pytest.approx(1 / 3)}

    outage.down = False
    chain.advance(1)
    third = sup.run_round()
    assert stages.evaluated.count("a") == 2, "not tried again once the Hub answered"
    assert {row["hotkey"]: row["score"] for row in read.leaderboard(third)} == {
        "a": pytest.approx(0.8),
        "b": pytest.approx(0.4),
    }
    assert read.failures(third) == []


def test_a_model_whose_hub_read_failed_still_counts_for_the_uniform_fallback(tmp_path: Path, chain: LocalChain) -> None:
    """Nobody earns a score, so weights fall back to every model that passed policy: the one the Hub could not
    be asked about is still among them (it was refused nothing)."""
    chain.register("burn")  # uid 0
    commit(chain, "a", "org/a", "1")
    commit(chain, "b", "org/b", "2")
    stages = Stages({"a": "ia", "b": "ib"}, {"a": 0.0, "b": 0.0})
    sup = scripted_supervisor(tmp_path, chain, stages, weights_fallback="uniform", burn_uid=0)
    sup.prepare = HubDownFor(stages, "a", tmp_path).prepare
    round_id = sup.run_round()
    assert ("prepare", "unreachable") in [(f["stage"], f["class"]) for f in sup.store.read.failures(round_id)]
    assert weights_by_hotkey(chain) == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}
