"""State store and local chain costs: how much the crash-safety (one transaction per step) costs per step.

A task result is one committed transaction; the supervisor writes a few hundred per model, so even a slow disk
must keep this far below the seconds an inference takes.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from chain.local import LocalChain
from harness.state.store import Store

TASKS = 2000
NEURONS = 256


def _store_steps(root: Path) -> dict[str, float]:
    store = Store(root / "state.sqlite")
    rnd = store.begin_round(1, "0x1")
    model = store.record_model(hotkey="hk", repo="org/m", revision="a" * 40, content_hash="b" * 64, commit_block=1)
    ev = store.start_evaluation(rnd.id, model.id, model.content_hash)
    started = time.perf_counter()
    for t in range(TASKS):
        store.record_task_result(ev.id, f"t{t:05d}", 0.5, {"latency_s": 0.1})
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    for t in range(TASKS):
        store.record_task_result(ev.id, f"t{t:05d}", 0.9)  # already recorded: a no-op step
    rewrite_s = time.perf_counter() - started
    store.close()
    started = time.perf_counter()
    reopened = Store(root / "state.sqlite")
    done = reopened.read.done_tasks(ev.id)
    resume_s = time.perf_counter() - started
    assert len(done) == TASKS
    reopened.close()
    return {
        "task_results_per_s": round(TASKS / write_s, 1),
        "task_result_ms": round(1000 * write_s / TASKS, 3),
        "repeated_task_result_ms": round(1000 * rewrite_s / TASKS, 3),
        "resume_open_and_done_tasks_ms": round(1000 * resume_s, 2),
    }


def _local_chain(root: Path) -> dict[str, float]:
    chain = LocalChain(root / "chain.sqlite", block_period_s=0)
    started = time.perf_counter()
    for n in range(NEURONS):
        hotkey = f"hk{n}"
        chain.register(hotkey)
        chain.commit(hotkey, f"org/m{n}:{'a' * 40}:{'b' * 64}")
    register_commit_s = time.perf_counter() - started
    reads = []
    for _ in range(20):
        started = time.perf_counter()
        records = chain.commitments()
        reads.append(time.perf_counter() - started)
    assert len(records) == NEURONS
    started = time.perf_counter()
    chain.set_weights(list(range(NEURONS)), [1.0] * NEURONS)
    weights_s = time.perf_counter() - started
    return {
        "register_and_commit_ms": round(1000 * register_commit_s / NEURONS, 3),
        "commitments_read_ms_median": round(1000 * statistics.median(reads), 2),
        "set_weights_ms": round(1000 * weights_s, 2),
    }


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        return {
            "store": {"tasks": TASKS, **_store_steps(root)},
            "local_chain": {"neurons": NEURONS, **_local_chain(root)},
        }
