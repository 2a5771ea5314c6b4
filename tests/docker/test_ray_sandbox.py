"""The Ray executor with the real worker path: two worker nodes on this host, each pinned to a core of its own
through its environment (as two hosts would be), fetch the pinned revision from the Hub mirror, verify its hash,
check its policy and evaluate it in a real CPU sandbox; a local round over the same chain state must give the
very same per-task scores (validators agree whatever executor they run).

Small for CI time: two models, two short tool-call tasks each, short answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.bench_round import publish_and_commit
from harness.demo.bundled_models import smollm2_degraded_dir
from harness.demo.hub_mirror import MirrorServer
from harness.round.service import build_supervisor
from harness.settings.root import Settings, load_settings
from harness.state.store import Store

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]
ray = pytest.importorskip("ray")

TASKS = 2


def _settings(tmp_path: Path, name: str, endpoint: str, *extra: str) -> Settings:
    data = tmp_path / name
    data.mkdir()
    return load_settings(
        [
            *extra,
            f"chain.local_db={tmp_path / 'chain.sqlite'}",  # one chain: both validators see the same state
            "chain.block_period_s=0",
            f"state_db={data / 'state.sqlite'}",
            f"mirror.root={tmp_path / 'mirror'}",
            f"fetch.models_dir={data / 'models'}",
            f"sandbox.socket_root={data / 'run'}",
            f"hub.endpoint={endpoint}",
            f"tasks.toolcall_n={TASKS}",
            "tasks.bfcl_fraction=0.0",
            'tasks.toolcall_categories={"irrelevance": 1.0}',  # SmolLM2 earns here: equal is not 0 = 0
            "evaluation.max_tokens=48",
            "evaluation.request_timeout_s=900",
            "supervisor.default_competition=toolcall",
        ]
    )


def _per_task(store: Store, round_id: int) -> dict[str, dict[str, float]]:
    return {
        store.read.get_model(e.model_id).hotkey: {
            task: score for task, (score, _) in store.read.task_results(e.id).items()
        }
        for e in store.read.evaluations(round_id)
    }


def test_ray_workers_fetch_check_and_evaluate_in_their_own_pinned_sandboxes_as_a_local_round_would(
    tmp_path: Path, smollm2: Path, cache_dir: Path
) -> None:
    from tests.support.ray_cluster import local_cluster

    models = [("good", smollm2, "org/smollm2"), ("worse", smollm2_degraded_dir(cache_dir), "org/smollm2-noised")]
    (tmp_path / "mirror").mkdir()
    with MirrorServer(tmp_path / "mirror") as mirror:
        on_ray = _settings(tmp_path, "ray", mirror.url)
        publish_and_commit(on_ray, models)
        with local_cluster() as cluster:
            for core in ("0", "1"):
                cluster.add_worker(slots=1, env={"HARNESS_SANDBOX__CPUSET_CPUS": core, "HARNESS_SANDBOX__CPUS": "1"})
            on_ray.supervisor.executor = "ray"
            on_ray.supervisor.ray_address = cluster.address
            head = build_supervisor(on_ray)
            ray_round = head.run_round()
            ray_weights = head.chain.last_weights()  # read now: both validators set weights on this one chain
        # The same CPU allotment as each worker's sandbox: the CPU engine's greedy answers depend on its thread
        # count (OMP_NUM_THREADS follows sandbox.cpus; on this machine the noised model answered a task
        # differently with 1 and 2 threads), and this test is about the executor, not the allotment.
        local = build_supervisor(_settings(tmp_path, "local", mirror.url, "sandbox.cpus=1"))
        local_round = local.run_round()

    # Nothing failed; the only notes are the weights' verdicts (the later, noised model is not better by the
    # margin: covered), and both validators reach the same ones.
    notes = [(f["stage"], f["class"]) for f in head.store.read.failures(ray_round)]
    assert all(note == ("weights", "covered") for note in notes), notes
    assert notes == [(f["stage"], f["class"]) for f in local.store.read.failures(local_round)]
    placements: list[dict[str, Any]] = [e.details["placement"] for e in head.store.read.evaluations(ray_round)]
    assert sorted(p["cpuset_cpus"] for p in placements) == ["0", "1"], placements  # each node's own core
    assert len({p["node"] for p in placements}) == 2 and all(p["cpus"] == 1.0 for p in placements)

    on_workers, here = _per_task(head.store, ray_round), _per_task(local.store, local_round)
    assert set(on_workers) == {"good", "worse"} and all(len(tasks) == TASKS for tasks in on_workers.values())
    assert any(score > 0 for score in on_workers["good"].values()), on_workers  # equal scores that mean something
    assert on_workers == here  # same tasks, same answers, same scores: the executor changes nothing
    local_weights = local.chain.last_weights()
    assert ray_weights is not None and local_weights is not None
    assert (ray_weights.uids, ray_weights.weights) == (local_weights.uids, local_weights.weights)
