from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.state.schema import SCHEMA_VERSION
from harness.state.store import Store, StoreError
from scoring.aggregate import Claim
from tests.support.paths import REPO_ROOT
from tests.support.store_worker import expected_score

ROOT = REPO_ROOT


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "state.sqlite")
    yield s
    s.close()


def _model(store: Store, n: int = 0, round_id: int | None = None):
    return store.record_model(
        hotkey=f"hk{n}",
        repo=f"org/m{n}",
        revision="a" * 40,
        content_hash=f"{n:064x}",
        commit_block=10 + n,
        uid=n,
        round_id=round_id,
    )


def test_schema_is_versioned_and_wal_with_foreign_keys(store: Store, tmp_path: Path) -> None:
    assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / "state.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        store.record_verdict(999, 999, True)


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        rnd = s.begin_round(1, "0x1")
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.read.current_round() == rnd


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="upgrade the harness"):
        Store(path)


def test_begin_round_resumes_the_running_round(store: Store) -> None:
    first = store.begin_round(5, "0x5")
    assert store.begin_round(6, "0x6") == first
    store.finish_round(first.id)
    store.finish_round(first.id, "failed")  # closing twice changes nothing
    assert store.read.get_round(first.id).status == "done"
    second = store.begin_round(7, "0x7")
    assert second.id == first.id + 1 and second.block == 7
    assert store.read.last_finished_round().id == first.id


def test_every_step_written_twice_changes_nothing(store: Store) -> None:
    rnd = store.begin_round(1, "0x1")
    model = _model(store, 0, rnd.id)
    assert _model(store, 0, rnd.id) == model
    store.record_verdict(rnd.id, model.id, True)
    store.record_verdict(rnd.id, model.id, False, [{"rule": "license"}])
    assert store.read.verdict(rnd.id, model.id) == (True, [])
    ev = store.start_evaluation(rnd.id, model.id, model.content_hash)
    assert store.start_evaluation(rnd.id, model.id, model.content_hash) == ev
    assert store.record_task_result(ev.id, "t1", 0.5, {"a": 1}) is True
    assert store.record_task_result(ev.id, "t1", 0.9) is False
    assert store.read.task_results(ev.id) == {"t1": (0.5, {"a": 1})}
    store.finish_evaluation(ev.id, 0.5, {"tasks": 1})
    store.finish_evaluation(ev.id, 0.7)
    store.fail_evaluation(ev.id, "timeout", "late")
    finished = store.read.get_evaluation(ev.id)
    assert (finished.status, finished.score, finished.details) == ("done", 0.5, {"tasks": 1})
    store.record_weights(rnd.id, [0], [1.0], block=3)
    store.record_weights(rnd.id, [1], [1.0], block=4)
    assert store.read.weights_for(rnd.id)["uids"] == [0]
    store.record_failure(rnd.id, "hotkey:x", "commitment", "commitment", "bad")
    store.record_failure(rnd.id, "hotkey:x", "commitment", "commitment", "bad again")
    assert [f["reason"] for f in store.read.failures(rnd.id)] == ["bad"]
    assert store.integrity_check() == ["ok"]


def test_failed_evaluation_records_its_class_and_reason(store: Store) -> None:
    rnd = store.begin_round()
    model = _model(store, 1, rnd.id)
    ev = store.start_evaluation(rnd.id, model.id, model.content_hash)
    store.fail_evaluation(ev.id, "sandbox-oom", "killed by the OOM killer after 512 MiB")
    assert store.read.get_evaluation(ev.id).finished
    (failure,) = store.read.failures(rnd.id)
    assert (failure["subject"], failure["class"], failure["stage"]) == (f"model:{model.id}", "sandbox-oom", "evaluate")


def test_status_and_report_for_harness_status(store: Store) -> None:
    assert store.read.status()["round_in_progress"] is None
    rnd = store.begin_round(9, "0x9")
    good, bad, copy = (_model(store, n, rnd.id) for n in range(3))
    for m, allowed in ((good, True), (bad, False), (copy, True)):
        store.record_verdict(rnd.id, m.id, allowed, [] if allowed else [{"rule": "pickle", "message": "x"}])
    ev_good = store.start_evaluation(rnd.id, good.id, good.content_hash)
    ev_copy = store.start_evaluation(rnd.id, copy.id, copy.content_hash)
    store.record_task_result(ev_good.id, "t1", 0.8)
    assert [e.id for e in store.read.unfinished_evaluations(rnd.id)] == [ev_good.id, ev_copy.id]
    assert store.read.evaluation_for(rnd.id, copy.content_hash) == ev_copy
    status = store.read.status()
    assert status["round_in_progress"]["id"] == rnd.id
    assert status["round_in_progress"]["progress"] == {
        "evaluations": {"running": 2},
        "verdicts": {"allowed": 2, "rejected": 1},
        "tasks_done": 1,
        "failures": 0,
    }
    store.finish_evaluation(ev_good.id, 0.8)
    store.finish_evaluation(ev_copy.id, 0.3)
    store.record_weights(rnd.id, [good.uid, copy.uid], [0.8, 0.2], block=10)
    store.finish_round(rnd.id)
    assert store.read.unfinished_evaluations(rnd.id) == []
    status = store.read.status()
    assert status["round_in_progress"] is None and status["last_round"]["id"] == rnd.id
    assert [row["hotkey"] for row in status["leaderboard"]] == ["hk0", "hk2"]
    assert status["last_weights"]["uids"] == [0, 2]
    report = store.read.report(rnd.id)
    assert [m["allowed"] for m in report["models"]] == [True, False, True]
    assert report["models"][1]["violations"] == [{"rule": "pickle", "message": "x"}]
    assert [e["tasks_done"] for e in report["evaluations"]] == [1, 0]
    with pytest.raises(StoreError, match="no round"):
        store.read.report(99)


def test_the_earliest_claim_owns_an_identity_whatever_order_claims_arrive_in(store: Store) -> None:
    early, tie_lower_uid, late = Claim(5, 3, "early"), Claim(5, 2, "tie"), Claim(9, 0, "late")
    rnd = store.begin_round(10, "0xa").id
    assert store.claim_identity("same", late, None) == late
    assert store.claim_identity("same", early, rnd) == early
    assert store.claim_identity("same", late, rnd) == early, "a later claim took the content over"
    assert store.claim_identity("same", tie_lower_uid, rnd) == tie_lower_uid  # same block: the lower uid
    assert store.read.identity_owner("same") == tie_lower_uid
    assert store.read.identity_owners() == {"same": tie_lower_uid}


def _lines(log: Path) -> int:
    return log.read_text().count("\n") if log.exists() else 0


def _run_worker(db: Path, log: Path, models: int, tasks: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.store_worker", str(db), str(log), str(models), str(tasks)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_random_points_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    db, log = tmp_path / "state.sqlite", tmp_path / "steps.log"
    models, tasks = 12, 60
    rng = random.Random(1234)
    kills = 0
    for _ in range(10):
        # Kill after a random number of further steps (0: during start-up or migration), plus a random few ms.
        before = _lines(log)
        target = before + rng.randint(0, 60)
        proc = _run_worker(db, log, models, tasks)
        while proc.poll() is None and _lines(log) < target:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.005))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
    interrupted = _lines(log)
    proc = _run_worker(db, log, models, tasks)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "DONE" in out
    assert kills >= 8, "the killer should land mid-round nearly every time"

    steps = Counter(log.read_text().splitlines())
    assert not [s for s, n in steps.items() if n > 1 or s.startswith("DUPLICATE")], "finished work was repeated"
    assert interrupted < sum(steps.values()), "the kills should have interrupted the round"

    with Store(db) as store:
        assert store.integrity_check() == ["ok"]
        (rnd,) = [store.read.get_round(1)]
        assert rnd.status == "done" and store.begin_round().id == 2
        evaluations = store.read.evaluations(1)
        allowed = [m for m in range(models) if m % 5 != 4]
        assert len(evaluations) == len(allowed)
        for ev, m in zip(evaluations, allowed, strict=True):
            results = store.read.task_results(ev.id)
            assert sorted(results) == [f"t{t:03d}" for t in range(tasks)]
            assert [s for s, _ in results.values()] == [expected_score(m, t) for t in range(tasks)]
            assert ev.status == "done" and ev.score == pytest.approx(
                sum(expected_score(m, t) for t in range(tasks)) / tasks
            )
        assert len(store.read.failures(1)) == models - len(allowed)
        assert store.read.weights_for(1) is not None
        counts = dict(
            store.db.query("SELECT 'models', COUNT(*) FROM models UNION ALL SELECT 'verdicts', COUNT(*) FROM verdicts")
        )
        assert counts == {"models": models, "verdicts": models}
