"""A near-copy in a real round (issue 21, "Done when" 1): SmolLM2 committed first, the same model with 2 % seeded
weight noise committed later by another hotkey, both fetched from the local Hub mirror, checked by policy and
evaluated in real CPU sandboxes on the same 8 seeded tool-call tasks, weights set on the local chain with the
default `winrate` method.

Before the comparisons, softmax split the weight (measured: 0.628 original, 0.372 near-copy). Now the near-copy
must earn at most a tenth of the original's weight, and the original must still earn weight.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_round import publish_and_commit
from harness.demo.hub_mirror import MirrorServer
from harness.round.service import build_supervisor
from harness.settings.root import Settings
from tests.support.nearcopy import nearcopy_dir
from tests.support.rounds import sandbox_round_settings

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]

TASKS = 8


def _settings(tmp_path: Path, endpoint: str) -> Settings:
    return sandbox_round_settings(
        tmp_path, endpoint, TASKS, "evaluation.max_tokens=48", "evaluation.request_timeout_s=900"
    )


def test_a_later_near_copy_earns_at_most_a_tenth_of_the_originals_weight(
    tmp_path: Path, smollm2: Path, cache_dir: Path
) -> None:
    nearcopy = nearcopy_dir(smollm2, cache_dir)
    (tmp_path / "mirror").mkdir()
    with MirrorServer(tmp_path / "mirror") as mirror:
        settings = _settings(tmp_path, mirror.url)
        assert settings.scoring.weights_method == "winrate"  # the default is what is measured
        publish_and_commit(settings, [("original", smollm2, "org/smollm2"), ("nearcopy", nearcopy, "org/smol-nc")])
        supervisor = build_supervisor(settings)
        round_id = supervisor.run_round()

    read = supervisor.store.read
    evaluated = {read.get_model(e.model_id).hotkey: e for e in read.evaluations(round_id)}
    assert set(evaluated) == {"original", "nearcopy"}, read.failures(round_id)  # new content: both evaluated
    assert all(e.status == "done" and len(read.task_results(e.id)) == TASKS for e in evaluated.values())
    last = supervisor.chain.last_weights()
    assert last is not None
    hotkey = {n.uid: n.hotkey for n in supervisor.chain.neurons()}
    weights = {hotkey[u]: w for u, w in zip(last.uids, last.weights, strict=True)}
    scores = {h: e.score for h, e in evaluated.items()}
    assert weights.get("original", 0.0) > 0, (weights, scores, read.failures(round_id))
    assert weights.get("nearcopy", 0.0) <= weights["original"] / 10, (weights, scores)
    covered = [f for f in read.report(round_id)["failures"] if f["class"] == "covered"]
    assert [f["model"]["hotkey"] for f in covered] == ["nearcopy"], covered
