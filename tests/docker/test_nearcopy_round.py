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
from harness.demo.bundled_models import ensure_built, noised_copy
from harness.demo.hub_mirror import MirrorServer
from harness.round.service import build_supervisor
from harness.settings.root import Settings, load_settings

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]

TASKS = 8
NOISE_SCALE = 0.02  # of each weight matrix's standard deviation: far below what changes SmolLM2's answers much
NOISE_SEED = 20260321


def nearcopy_dir(smollm2: Path, cache_dir: Path) -> Path:
    """SmolLM2 with 2 % seeded Gaussian noise on every weight matrix: new content, nearly the same answers."""
    name = f"smollm2-135m-nearcopy-{NOISE_SEED}-{round(NOISE_SCALE * 100)}"
    return ensure_built(name, lambda out, _cache: noised_copy(smollm2, out, NOISE_SEED, NOISE_SCALE, _all), cache_dir)


def _all(_name: str) -> bool:
    return True


def _settings(tmp_path: Path, endpoint: str) -> Settings:
    return load_settings(
        [
            f"chain.local_db={tmp_path / 'chain.sqlite'}",
            "chain.block_period_s=0",
            f"state_db={tmp_path / 'state.sqlite'}",
            f"mirror.root={tmp_path / 'mirror'}",
            f"fetch.models_dir={tmp_path / 'models'}",
            f"sandbox.socket_root={tmp_path / 'run'}",
            f"hub.endpoint={endpoint}",
            f"tasks.toolcall_n={TASKS}",
            "tasks.bfcl_fraction=0.0",
            'tasks.toolcall_categories={"simple": 1, "irrelevance": 3}',  # the demo's mix: SmolLM2 earns here
            "evaluation.max_tokens=48",
            "evaluation.request_timeout_s=900",
            "supervisor.default_competition=toolcall",
        ]
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
