"""The round loop on the real local chain and the real state store.

The prepare and evaluate stages are scripted here (they have their own tests and the end-to-end test runs
the real ones): these tests pin the orchestration — ordering, de-duplication, failure recording, resume after
a stop, weights — which is what would break if the supervisor broke.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chain.local import LocalChain
from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest, Stopped
from harness.models.prepare import PreparedModel
from tests.support.rounds import Stages, commit, scripted_supervisor, weights_by_hotkey


def test_round_scores_ranks_and_sets_weights(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "good", "org/good", "1")
    commit(chain, "worse", "org/worse", "2")
    stages = Stages({"good": "id-good", "worse": "id-worse"}, {"good": 0.8, "worse": 0.2})
    sup = scripted_supervisor(tmp_path, chain, stages)
    round_id = sup.run_round()
    board = {row["hotkey"]: row["score"] for row in sup.store.read.leaderboard(round_id)}
    assert board == {"good": pytest.approx(0.8), "worse": pytest.approx(0.2)}
    last = chain.last_weights()
    assert last is not None
    weights = dict(zip(last.uids, last.weights, strict=True))
    uid = {n.hotkey: n.uid for n in chain.neurons()}
    assert weights[uid["good"]] == pytest.approx(0.8) and weights[uid["worse"]] == pytest.approx(0.2)
    assert sup.store.read.get_round(round_id).status == "done"


def test_later_copy_of_same_content_gets_nothing_and_is_not_evaluated(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "good", "org/good", "1")
    commit(chain, "copy", "org/copied", "3")
    stages = Stages({"good": "same", "copy": "same"}, {"good": 0.9, "copy": 0.9})
    sup = scripted_supervisor(tmp_path, chain, stages)
    round_id = sup.run_round()
    assert stages.evaluated == ["good"]
    failures = sup.store.read.failures(round_id)
    assert [(f["stage"], f["class"]) for f in failures] == [("dedupe", "copy")]
    last = chain.last_weights()
    uid = {n.hotkey: n.uid for n in chain.neurons()}
    assert last is not None and last.uids == [uid["good"]]


def test_malformed_commitment_and_stage_failures_are_recorded_and_round_goes_on(
    tmp_path: Path, chain: LocalChain
) -> None:
    chain.register("junk")
    chain.commit("junk", "not a commitment")
    commit(chain, "hostile", "org/hostile", "4")
    commit(chain, "crashy", "org/crashy", "5")
    commit(chain, "good", "org/good", "1")
    stages = Stages({"hostile": "h", "crashy": "c", "good": "g"}, {"good": 0.5, "crashy": 0.5, "hostile": 0.5})
    stages.fail_prepare["hostile"] = StageFailure(
        "policy", "rejected", "pickle: pytorch_model.bin", details={"violations": [{"rule": "pickle"}]}
    )
    stages.fail_evaluate["crashy"] = StageFailure("sandbox", "crashed", "engine exited with 139")
    sup = scripted_supervisor(tmp_path, chain, stages)
    round_id = sup.run_round()
    classes = sorted((f["subject"].split(":")[0], f["stage"], f["class"]) for f in sup.store.read.failures(round_id))
    assert classes == [
        ("hotkey", "commitment", "malformed"),
        ("model", "policy", "rejected"),
        ("model", "sandbox", "crashed"),
    ]
    report = sup.store.read.report(round_id)
    verdicts = {m["repo"]: m["allowed"] for m in report["models"]}
    assert verdicts == {"org/hostile": False, "org/crashy": True, "org/good": True}
    assert [row["hotkey"] for row in sup.store.read.leaderboard(round_id)] == ["good"]


def test_stop_mid_round_then_resume_redoes_nothing_finished(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "a", "org/a", "1")
    commit(chain, "b", "org/b", "2")
    stages = Stages({"a": "ia", "b": "ib"}, {"a": 0.6, "b": 0.3}, tasks=3)
    stages.stop_after_tasks = 4  # all of a's tasks, then one of b's
    sup = scripted_supervisor(tmp_path, chain, stages)
    with pytest.raises(Stopped):
        sup.run_round()
    first_calls = list(stages.task_calls)
    assert first_calls == [("a", "t0"), ("a", "t1"), ("a", "t2"), ("b", "t0")]
    assert chain.last_weights() is None

    stages.stop_after_tasks = None
    resumed = scripted_supervisor(tmp_path, chain, stages)
    round_id = resumed.run_round()
    assert round_id == 1
    assert stages.task_calls[len(first_calls) :] == [("b", "t1"), ("b", "t2")]
    board = {row["hotkey"]: row["score"] for row in resumed.store.read.leaderboard(round_id)}
    assert board == {"a": pytest.approx(0.6), "b": pytest.approx(0.3)}


def test_set_weights_timeouts_are_retried(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "good", "org/good", "1")
    chain.inject_fault("set_weights", "timeout", 2)
    stages = Stages({"good": "g"}, {"good": 1.0})
    sup = scripted_supervisor(tmp_path, chain, stages)
    round_id = sup.run_round()
    assert sup.store.read.weights_for(round_id) is not None
    assert chain.last_weights() is not None
    assert sup.store.read.failures(round_id) == []


def test_set_weights_failure_after_retries_is_recorded_not_fatal(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "good", "org/good", "1")
    chain.inject_fault("set_weights", "timeout", 10)
    stages = Stages({"good": "g"}, {"good": 1.0})
    sup = scripted_supervisor(tmp_path, chain, stages)
    round_id = sup.run_round()
    assert sup.store.read.weights_for(round_id) is None
    failure = sup.store.read.failures(round_id)
    assert [(f["stage"], f["class"]) for f in failure] == [("weights", "chain-timeout")]
    assert sup.store.read.get_round(round_id).status == "done"


def test_prepare_of_next_model_overlaps_evaluation(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "a", "org/a", "1")
    commit(chain, "b", "org/b", "2")
    stages = Stages({"a": "ia", "b": "ib"}, {"a": 0.5, "b": 0.5})
    seen_during_eval: list[list[str]] = []
    original = stages.evaluate

    def evaluate(prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        if prepared.facts["hotkey"] == "a":
            for _ in range(200):  # b's prepare runs in a worker thread meanwhile
                if "b" in stages.prepared:
                    break
                threading.Event().wait(0.01)
            seen_during_eval.append(list(stages.prepared))
        return original(prepared, request)

    sup = scripted_supervisor(tmp_path, chain, stages)
    sup.evaluate = evaluate
    sup.run_round()
    assert seen_during_eval == [["a", "b"]]


def test_moving_score_is_per_model_and_uses_earlier_rounds(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "a", "org/a", "1")
    commit(chain, "b", "org/b", "2")
    stages = Stages({"a": "ia", "b": "ib"}, {"a": 1.0, "b": 0.0})
    sup = scripted_supervisor(tmp_path, chain, stages)
    sup.run_round()
    stages.quality = {"a": 0.0, "b": 1.0}
    chain.advance(5)
    sup.run_round()
    last = chain.last_weights()
    assert last is not None
    assert last.weights == pytest.approx([0.5, 0.5])  # mean of (1, 0) and (0, 1)


def test_a_copy_earns_nothing_even_when_the_original_cannot_be_fetched(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "original", "org/good", "1")
    commit(chain, "copier", "org/copied", "3")
    stages = Stages({"original": "same", "copier": "same"}, {"original": 0.9, "copier": 0.9})
    sup = scripted_supervisor(tmp_path, chain, stages)
    sup.run_round()
    chain.advance(1)
    stages.fail_prepare["original"] = StageFailure("fetch", "fetch", "the Hub is down for this repo")
    round_id = sup.run_round()
    assert stages.evaluated == ["original"], "the copy was evaluated in the original's place"
    assert weights_by_hotkey(chain) == {"original": pytest.approx(1.0)}  # not evaluated this round: keeps its value
    assert ("dedupe", "copy") in [(f["stage"], f["class"]) for f in sup.store.read.failures(round_id)]


def test_the_first_committer_owns_content_seen_first_from_a_later_copy(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "original", "org/good", "1")
    commit(chain, "copier", "org/copied", "3")
    stages = Stages({"original": "same", "copier": "same"}, {"original": 0.9, "copier": 0.9})
    stages.fail_prepare["original"] = StageFailure("fetch", "fetch", "down")
    sup = scripted_supervisor(tmp_path, chain, stages)
    sup.run_round()  # only the copy could be fetched: it is evaluated, for now
    assert weights_by_hotkey(chain) == {"copier": pytest.approx(1.0)}
    del stages.fail_prepare["original"]
    chain.advance(1)
    sup.run_round()
    assert "copier" not in weights_by_hotkey(chain)
    owner = sup.store.read.identity_owner("same")
    assert owner is not None and owner.hotkey == "original"


def test_a_failed_evaluation_counts_zero(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "a", "org/a", "1")
    commit(chain, "b", "org/b", "2")
    stages = Stages({"a": "ia", "b": "ib"}, {"a": 0.8, "b": 0.4})
    sup = scripted_supervisor(tmp_path, chain, stages)
    first = sup.run_round()
    stages.fail_evaluate["a"] = StageFailure("sandbox", "crashed", "engine exited with 139")
    chain.advance(1)
    second = sup.run_round()
    assert sup.store.read.moving_scores(first) == {("a", "ia"): pytest.approx(0.8), ("b", "ib"): pytest.approx(0.4)}
    assert sup.store.read.moving_scores(second) == {("a", "ia"): pytest.approx(0.4), ("b", "ib"): pytest.approx(0.4)}
    assert weights_by_hotkey(chain) == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


@pytest.mark.parametrize(("fallback", "expected"), [("burn", {"a": 1.0}), ("uniform", {"b": 0.5, "c": 0.5})])
def test_weights_are_set_every_round_with_a_fallback(
    tmp_path: Path, chain: LocalChain, fallback: str, expected: dict[str, float]
) -> None:
    chain.register("a")  # uid 0: the burn uid, commits nothing
    commit(chain, "b", "org/b", "2")
    commit(chain, "c", "org/c", "3")
    stages = Stages({"b": "ib", "c": "ic"}, {"b": 0.0, "c": 0.0})
    sup = scripted_supervisor(tmp_path, chain, stages, weights_fallback=fallback, burn_uid=0)
    round_id = sup.run_round()
    assert weights_by_hotkey(chain) == pytest.approx(expected)
    assert sup.store.read.weights_for(round_id)["receipt"]["mode"] == fallback
    assert ("weights", f"fallback-{fallback}") in [(f["stage"], f["class"]) for f in sup.store.read.failures(round_id)]


def test_round_seed_is_the_epoch_boundary_and_later_commitments_wait(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=10)
    commit(chain, "early", "org/early", "1")  # block 0
    chain.advance(10)  # block 11: the epoch opened at block 10
    commit(chain, "late", "org/late", "2")  # block 11, after the seed block
    seeds: list[list[str]] = []
    for state in ("one.sqlite", "two.sqlite"):  # two validators, started 4 blocks apart in the same epoch
        stages = Stages({"early": "ie", "late": "il"}, {"early": 0.5, "late": 0.9})
        seen: list[str] = []
        original = stages.evaluate

        def evaluate(prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
            seen.append(request.seed)  # noqa: B023
            return original(prepared, request)  # noqa: B023

        sup = scripted_supervisor(tmp_path, chain, stages, state=state)
        sup.evaluate = evaluate
        round_id = sup.run_round()
        assert stages.evaluated == ["early"], "a commitment made after the seed block took part"
        assert sup.store.read.get_round(round_id).block == 10
        assert sup.epoch_done()
        seeds.append(seen)
        chain.advance(4)
    assert seeds[0] == seeds[1] == [chain.block_hash(10)]
    chain.advance(10)
    assert not sup.epoch_done()
