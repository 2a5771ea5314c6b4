"""A supervisor-shaped writer for the SIGKILL test: runs one round through the store, resuming what is done.

Usage: python -m tests.support.store_worker DB LOG MODELS TASKS. Every step it actually performs is appended to LOG
after its transaction committed, so a step logged twice means finished work was repeated.
"""

from __future__ import annotations

import sys
import time

from harness.state.store import Store


def expected_score(model: int, task: int) -> float:
    return ((model * 31 + task * 7) % 100) / 100


def main(db: str, log_path: str, models: int, tasks: int) -> None:
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - kept open for the life of the process

    def done(*parts: object) -> None:
        log.write(" ".join(str(p) for p in parts) + "\n")

    store = Store(db)
    first = store.read.get_round(1)
    if first is not None and first.status == "done":  # the one round of this test is over
        print("DONE", flush=True)
        return
    rnd = store.begin_round(block=100, block_hash="0x64")
    for m in range(models):
        model = store.record_model(
            hotkey=f"hk{m}",
            repo=f"org/m{m}",
            revision=f"{m:040x}",
            content_hash=f"{m:064x}",
            commit_block=m,
            uid=m,
            round_id=rnd.id,
        )
        if store.read.verdict(rnd.id, model.id) is None:
            allowed = m % 5 != 4
            store.record_verdict(rnd.id, model.id, allowed, [] if allowed else [{"rule": "license"}])
            done("verdict", m)
        allowed, _ = store.read.verdict(rnd.id, model.id)  # type: ignore[misc]
        if not allowed:
            store.record_failure(rnd.id, f"model:{model.id}", "policy", "policy", "license not allowed")
            continue
        evaluation = store.start_evaluation(rnd.id, model.id, model.content_hash)
        if evaluation.finished:
            continue
        finished = store.read.done_tasks(evaluation.id)
        for t in range(tasks):
            task_id = f"t{t:03d}"
            if task_id in finished:
                continue
            time.sleep(0.001)  # the "work": gives the killer a chance to land between steps
            if not store.record_task_result(evaluation.id, task_id, expected_score(m, t), {"model": m}):
                done("DUPLICATE", m, t)
            done("task", m, t)
        results = store.read.task_results(evaluation.id)
        store.finish_evaluation(evaluation.id, sum(s for s, _ in results.values()) / len(results))
        done("evaluation", m)
    if store.read.weights_for(rnd.id) is None:
        uids = [e.model_id - 1 for e in store.read.evaluations(rnd.id)]
        store.record_weights(rnd.id, uids, [1.0 / len(uids)] * len(uids), block=101, receipt={"ok": True})
        done("weights")
    store.finish_round(rnd.id)
    done("round")
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
