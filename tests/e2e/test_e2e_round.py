"""One validator round end to end, real parts only: the demo miners on the local chain, the local Hub mirror
served over HTTP, the supervisor as a real `harness round --once` process, real sandboxes running SmolLM2.

One round is shared by every assertion (it costs minutes on this machine). On its way it is SIGKILLed in the
middle of an evaluation and restarted; set_weights is armed to time out twice. What each test pins:
- the better model gets the higher weight; the later copy, the hostile and the junk commitment get none;
- every failure is recorded with its class (copy, policy rejection with its violations, malformed);
- the restarted process resumes the same round: the task results recorded before the kill are unchanged,
  none is recorded twice, none is missing; the orphaned sandbox is reaped at start-up; no container is left;
- the injected chain timeouts are retried and the weights land.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chain.local import LocalChain
from harness.demo.hub_mirror import MirrorServer
from harness.sandbox.spec import LABEL, LABEL_PID, LABEL_SOCKET_DIR
from harness.state.store import Store
from tests.support.paths import REPO_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]

REPO_ROOT = REPO_ROOT
TOOLCALL_N = 4
CAPTION_N = 3  # the demo miners compete in any-to-any: tool calls tie them, captions order them
TASKS_PER_MODEL = TOOLCALL_N + CAPTION_N  # a blind model's caption tasks are recorded too (withheld, 0)
SET_WEIGHTS_TIMEOUTS = 2  # below chain.retries + 1 (the default 3 extra attempts): the weights must land
ROUND_TIMEOUT_S = 1800  # this 2-core machine is shared: a task can take a minute when it is busy


@dataclass
class RoundRun:
    env: dict[str, str]
    data: Path
    chain_db: Path
    state_db: Path
    socket_root: Path
    seeded: dict[str, dict[str, Any]]
    killed_pid: int = 0
    before_kill: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    present_at_restart: list[str] = field(default_factory=list)
    restart: subprocess.CompletedProcess[str] | None = None
    round_ids: list[int] = field(default_factory=list)


def _cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.app", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _task_rows(state_db: Path) -> dict[int, list[tuple[Any, ...]]]:
    """Every task result row, per evaluation (read with plain SQLite: the supervisor may be writing)."""
    if not state_db.exists():
        return {}
    db = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT * FROM task_results ORDER BY evaluation_id, task_id").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}
    finally:
        db.close()
    out: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        out.setdefault(int(row[0]), []).append(tuple(row))
    return out


def _running_evaluations(state_db: Path) -> set[int]:
    db = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30)
    try:
        return {int(r[0]) for r in db.execute("SELECT id FROM evaluations WHERE status='running'")}
    finally:
        db.close()


def _our_containers(socket_root: Path) -> list[Any]:
    """Labelled sandbox containers of this test's supervisors (their socket dirs live under our socket root)."""
    import docker

    client = docker.from_env()
    try:
        return [
            c
            for c in client.containers.list(all=True, filters={"label": LABEL})
            if (c.labels or {}).get(LABEL_SOCKET_DIR, "").startswith(str(socket_root))
        ]
    finally:
        client.close()


def _kill_mid_evaluation(run: RoundRun) -> None:
    """Start the round, SIGKILL it once an evaluation has some (not all) task results, and record the state."""
    stderr = open(run.data / "first.stderr", "w")  # noqa: SIM115 - closed below, after the process is gone
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.app", "round", "--once"],
        cwd=REPO_ROOT,
        env=run.env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"the round ended before it could be killed: {_tail(run.data / 'first.stderr')}"
            assert time.monotonic() < deadline, "no task result was recorded in time"
            rows = _task_rows(run.state_db)
            running = _running_evaluations(run.state_db) if rows else set()
            if any(0 < len(rows.get(e, [])) < TASKS_PER_MODEL for e in running):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
    run.killed_pid = proc.pid
    run.before_kill = _task_rows(run.state_db)
    run.orphans = [c.id for c in _our_containers(run.socket_root) if c.labels.get(LABEL_PID) == str(proc.pid)]


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


@pytest.fixture(scope="module")
def round_run(tmp_path_factory: pytest.TempPathFactory, vlm_noised: Path) -> Any:  # the seed publishes the VLMs
    data = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_") or k == "HARNESS_CACHE_DIR"}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        HARNESS_CHAIN__LOCAL_DB=str(data / "chain.sqlite"),
        HARNESS_CHAIN__BLOCK_PERIOD_S="0",
        HARNESS_CHAIN__RETRY_WAIT_S="0.05",
        HARNESS_STATE_DB=str(data / "state.sqlite"),
        HARNESS_MIRROR__ROOT=str(data / "mirror"),
        HARNESS_FETCH__MODELS_DIR=str(data / "models"),
        HARNESS_SANDBOX__SOCKET_ROOT=str(data / "run"),
        HARNESS_TASKS__TOOLCALL_N=str(TOOLCALL_N),
        HARNESS_TASKS__CAPTION_N=str(CAPTION_N),
        HARNESS_TASKS__TOOLCALL_CATEGORIES=json.dumps({"simple": 1, "irrelevance": 3}),
        HARNESS_TASKS__BFCL_FRACTION="0",
        HARNESS_EVALUATION__MAX_TOKENS="32",
        HARNESS_EVALUATION__CONCURRENCY="1",  # one task at a time: a wide window to kill between two results
        HARNESS_SCORING__TOOLCALL_SCORE="partial",
    )
    seeded = _cli(env, "demo", "seed", "--json", timeout=600)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    run = RoundRun(
        env=env,
        data=data,
        chain_db=data / "chain.sqlite",
        state_db=data / "state.sqlite",
        socket_root=data / "run",
        seeded={row["role"]: row for row in json.loads(seeded.stdout)},
    )
    try:
        with MirrorServer(data / "mirror") as mirror:
            env["HARNESS_HUB__ENDPOINT"] = mirror.url
            LocalChain(run.chain_db, block_period_s=0).inject_fault("set_weights", "timeout", SET_WEIGHTS_TIMEOUTS)
            _kill_mid_evaluation(run)
            # another harness process on this host may reap the orphan first; the log check covers what was left
            run.present_at_restart = [c.id for c in _our_containers(run.socket_root) if c.id in run.orphans]
            run.restart = _cli(env, "round", "--once", timeout=ROUND_TIMEOUT_S)
        (data / "restart.stderr").write_text(run.restart.stderr)
        assert run.restart.returncode == 0, run.restart.stderr[-4000:]
        run.round_ids = [int(line) for line in run.restart.stdout.split() if line.strip().isdigit()]
        yield run
    finally:
        for container in _our_containers(run.socket_root):  # only when a test failed to see them removed
            container.remove(force=True)


def _store(run: RoundRun) -> Store:
    return Store(run.state_db, readonly=True)


def _model_ids(store: Store, run: RoundRun) -> dict[str, int]:
    by_hotkey = {r["hotkey"]: r["role"] for r in run.seeded.values()}
    rows = store._query("SELECT id, hotkey FROM models")
    return {by_hotkey[hotkey]: int(mid) for mid, hotkey in rows if hotkey in by_hotkey}


def test_the_better_model_gets_the_higher_weight_and_no_one_else_any(round_run: RoundRun) -> None:
    chain = LocalChain(round_run.chain_db, block_period_s=0)
    history = chain.weights_history()
    assert len(history) == 1, "one round: weights set exactly once"
    weights = dict(zip(history[0].uids, history[0].weights, strict=True))
    uid = {role: row["uid"] for role, row in round_run.seeded.items()}
    with _store(round_run) as store:
        board = {row["hotkey"]: row["score"] for row in store.read.leaderboard(round_run.round_ids[0])}
    hotkey = {role: round_run.seeded[role]["hotkey"] for role in ("good", "worse", "text")}
    assert set(board) == set(hotkey.values())
    assert board[hotkey["good"]] > board[hotkey["worse"]] > board[hotkey["text"]], board
    assert weights.get(uid["good"], 0.0) > weights.get(uid["worse"], 0.0), (weights, board)
    for role in ("copy", "hostile", "junk"):
        assert weights.get(uid[role], 0.0) == 0.0, (role, weights)


def test_every_failure_is_recorded_with_its_class(round_run: RoundRun) -> None:
    with _store(round_run) as store:
        (round_id,) = round_run.round_ids
        ids = _model_ids(store, round_run)
        failures = {(f["subject"], f["stage"]): f for f in store.read.failures(round_id)}
        copy = failures[(f"model:{ids['copy']}", "dedupe")]
        assert copy["class"] == "copy" and round_run.seeded["good"]["hotkey"] in copy["reason"]
        assert not any(e.model_id == ids["copy"] for e in store.read.evaluations(round_id)), "a copy is not evaluated"
        hostile = failures[(f"model:{ids['hostile']}", "policy")]
        assert hostile["class"] == "rejected"
        verdict = store.read.verdict(round_id, ids["hostile"])
        assert verdict is not None and verdict[0] is False
        rules = {v["rule"] for v in verdict[1]}
        assert rules, "the rejection lists its violations"
        assert any("pickle" in r or "code" in r or "auto_map" in r or "remote" in r for r in rules), rules
        junk = failures[(f"hotkey:{round_run.seeded['junk']['hotkey']}", "commitment")]
        assert junk["class"] == "malformed"
    assert not Path("/tmp/harness-demo-pwned").exists(), "nothing from the hostile repo ran on the host"


def test_sigkill_mid_round_then_restart_resumes_without_duplicates_or_losses(round_run: RoundRun) -> None:
    assert round_run.orphans, "the killed supervisor left its labelled sandbox behind"
    assert any(0 < len(rows) < TASKS_PER_MODEL for rows in round_run.before_kill.values())
    with _store(round_run) as store:
        rounds = store._query("SELECT id, status FROM rounds")
        assert rounds == [(round_run.round_ids[0], "done")], "the restart resumed the same round"
        after = _task_rows(round_run.state_db)
        for evaluation_id, rows in round_run.before_kill.items():
            assert set(rows) <= set(after[evaluation_id]), "results recorded before the kill are unchanged"
        for evaluation in store.read.evaluations(round_run.round_ids[0]):
            assert evaluation.status == "done", evaluation
            task_ids = [row[1] for row in after[evaluation.id]]
            assert len(task_ids) == len(set(task_ids)) == TASKS_PER_MODEL, "every task once, none lost or repeated"
            assert evaluation.details["tasks"] == TASKS_PER_MODEL
    reaped = [line for line in round_run.restart.stderr.splitlines() if "sandbox.reaped" in line]
    for container_id in round_run.present_at_restart:
        assert any(container_id[:12] in line for line in reaped), (container_id, reaped)
    assert _our_containers(round_run.socket_root) == [], "no sandbox container is left"


def test_injected_set_weights_timeouts_are_retried_and_weights_land(round_run: RoundRun) -> None:
    retries = [
        line
        for line in round_run.restart.stderr.splitlines()
        if "chain call failed, retrying" in line and "set_weights" in line
    ]
    assert len(retries) == SET_WEIGHTS_TIMEOUTS, retries
    with sqlite3.connect(round_run.chain_db) as db:
        assert db.execute("SELECT COUNT(*) FROM faults").fetchone()[0] == 0, "every injected fault was hit"
    with _store(round_run) as store:
        stored = store.read.weights_for(round_run.round_ids[0])
        assert stored is not None and stored["uids"]
        failures = store.read.failures(round_run.round_ids[0])
        assert not any(f["stage"] == "weights" and f["subject"] == "round" for f in failures)  # models: covered
    assert LocalChain(round_run.chain_db, block_period_s=0).last_weights() is not None
