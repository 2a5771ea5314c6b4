"""Two validators agree: two supervisors on one local chain, started blocks apart within one epoch, with the real
CPU engine in the hardened sandbox running real models, build the same task set and record the same per-task
scores and the same weights.

The models come from local folders through the real policy check and staging (the selftest's path) instead of
the Hub, which this test does not need: what it pins is the seed, the eligible commitments, the evaluation
and the aggregation. Kept small for CI time: two models, two short tool-call tasks each, short answers; generous
request timeouts so that a loaded machine makes the test slow, not wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.commitment import format as format_commitment
from chain.local import LocalChain
from harness.demo.bundled_models import smollm2_degraded_dir
from harness.evaluation.stage import SandboxEvaluateStage
from harness.miner.selftest import check_policy, stage_local
from harness.models.content_hash import content_identity
from harness.models.prepare import PreparedModel
from harness.models.ref import parse_model_ref
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]

TEMPO = 20
TASKS = 2
SHA = "b" * 40


def _local_prepare(folders: dict[str, Path], staged: Path):
    """Policy check and staging of exactly the allowed files, once per model, shared by both validators."""
    cache: dict[str, PreparedModel] = {}

    def prepare(record, settings: Settings) -> PreparedModel:
        if record.hotkey not in cache:
            policy = check_policy(parse_model_ref(str(folders[record.hotkey])), settings)
            assert policy.report.allowed, policy.report.to_text()
            dest = staged / record.hotkey
            dest.mkdir(parents=True)
            digests = stage_local(folders[record.hotkey], policy.files, dest)
            cache[record.hotkey] = PreparedModel(dest, content_identity(digests), policy.report.facts, {})
        return cache[record.hotkey]

    return prepare


def _validator(tmp_path: Path, name: str, chain: LocalChain, prepare) -> Supervisor:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        tasks={"toolcall_n": TASKS, "toolcall_categories": {"simple": 1.0}, "bfcl_fraction": 0.0},  # short prompts
        evaluation={"max_tokens": 48, "concurrency": 1, "request_timeout_s": 900},
        sandbox={"request_timeout": 900},
        supervisor={"default_competition": "toolcall"},
    )
    return Supervisor(
        settings,
        chain,
        Store(tmp_path / f"{name}.sqlite"),
        executor=single_slot(),
        evaluate=SandboxEvaluateStage(settings),
        prepare=prepare,
    )


def _recorded(supervisor: Supervisor, round_id: int) -> dict:
    store = supervisor.store
    evaluations = {}
    for evaluation in store.read.evaluations(round_id):
        model = store.read.get_model(evaluation.model_id)
        assert model is not None and evaluation.status == "done", evaluation
        tasks = {task: score for task, (score, _details) in store.read.task_results(evaluation.id).items()}
        evaluations[model.hotkey] = {
            "task_set_sha256": evaluation.details["task_set_sha256"],
            "score": evaluation.score,
            "tasks": tasks,
        }
    weights = store.read.weights_for(round_id)
    assert weights is not None
    return {
        "seed": store.read.get_round(round_id).block_hash,
        "evaluations": evaluations,
        "weights": weights["weights"],
    } | {"uids": weights["uids"]}


def test_two_validators_started_apart_in_one_epoch_agree(smollm2: Path, cache_dir: Path, tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=TEMPO)
    folders = {"good": smollm2, "degraded": smollm2_degraded_dir(cache_dir)}
    for tag, hotkey in enumerate(folders):
        chain.register(hotkey)
        chain.commit(hotkey, format_commitment(f"org/{hotkey}", SHA, str(tag + 1) * 64))
        chain.advance(1)
    chain.advance(TEMPO + 1 - chain.current_block())  # block 21: the epoch opened at block 20
    prepare = _local_prepare(folders, tmp_path / "staged")

    first = _validator(tmp_path, "first", chain, prepare)
    first_round = first.run_round()
    chain.advance(5)  # the second validator starts 5 blocks later, same epoch
    chain.register("late")
    chain.commit("late", format_commitment("org/late", SHA, "9" * 64))  # after the seed block: must not count
    second = _validator(tmp_path, "second", chain, prepare)
    second_round = second.run_round()

    one, two = _recorded(first, first_round), _recorded(second, second_round)
    assert one["seed"] == chain.block_hash(TEMPO)
    assert one == two
    assert set(one["evaluations"]) == {"good", "degraded"}
    assert len(one["evaluations"]["good"]["tasks"]) == TASKS
    assert sum(one["weights"]) == pytest.approx(1.0)
