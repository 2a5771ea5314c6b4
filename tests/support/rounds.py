"""Rounds scripted on the real local chain and the real state store: scripted prepare and evaluate stages,
commitments, and the weights a round left on chain (shared by the round, pool and prepare tests)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chain.commitment import format as format_commitment
from chain.local import LocalChain
from harness.errors import StageFailure
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest, Stopped
from harness.models.prepare import PreparedModel
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store

SHA = "a" * 40


def dead_hub_url() -> str:
    """An address on this host where nothing listens: a Hub that cannot be reached (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def content_hash(tag: str) -> str:
    return (tag * 64)[:64]


class Stages:
    """Scripted stages: identities and per-task scores per hotkey, failures on demand."""

    def __init__(self, identities: dict[str, str], quality: dict[str, float], tasks: int = 4) -> None:
        self.identities = identities
        self.quality = quality
        self.tasks = tasks
        self.prepared: list[str] = []
        self.evaluated: list[str] = []
        self.task_calls: list[tuple[str, str]] = []
        self.fail_prepare: dict[str, StageFailure] = {}
        self.fail_evaluate: dict[str, StageFailure] = {}
        self.stop_after_tasks: int | None = None

    def prepare(self, record: Any, _settings: Settings) -> PreparedModel:
        self.prepared.append(record.hotkey)
        if record.hotkey in self.fail_prepare:
            raise self.fail_prepare[record.hotkey]
        return PreparedModel(
            model_dir=Path("/nonexistent") / record.hotkey,
            identity=self.identities[record.hotkey],
            facts={"hotkey": record.hotkey},
        )

    def evaluate(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        hotkey = prepared.facts["hotkey"]
        self.evaluated.append(hotkey)
        if hotkey in self.fail_evaluate:
            raise self.fail_evaluate[hotkey]

        def answer(task: str) -> tuple[float, dict[str, Any]]:
            if request.stop.is_set():
                raise Stopped()
            self.task_calls.append((hotkey, task))
            if self.stop_after_tasks is not None and len(self.task_calls) >= self.stop_after_tasks:
                request.stop.set()  # this task is still recorded; the next one stops
            return self.quality[hotkey], {"seed": request.seed}

        score = answer_tasks(request, self.tasks, answer)
        return EvaluationOutcome(score=score, details={"competition": request.competition})


TaskAnswer = Callable[[str], tuple[float, dict[str, Any] | None]]
"""A scripted stage's answer to one task id: its score and recorded details."""


def answer_tasks(request: EvaluationRequest, count: int, answer: TaskAnswer) -> float:
    """The scripted stages' task loop: tasks `t0`..`t{count-1}`, those in `request.done` kept as recorded (not
    asked again), every other one answered and recorded in order; the mean score over all of them."""
    scores = {task: float(row["score"]) for task, row in request.done.items()}
    for task in (f"t{index}" for index in range(count)):
        if task not in request.done:
            scores[task], details = answer(task)
            request.record(task, scores[task], details)
    return sum(scores.values()) / count


def commit(chain: LocalChain, hotkey: str, repo: str, tag: str) -> None:
    """Register `hotkey` and commit `repo` with a content hash made of `tag`, one block later."""
    chain.register(hotkey)
    chain.commit(hotkey, format_commitment(repo, SHA, content_hash(tag)))
    chain.advance(1)


def scripted_supervisor(
    tmp_path: Path, chain: LocalChain, stages: Stages, state: str = "state.sqlite", **scoring: Any
) -> Supervisor:
    """One slot, proportional weights and a moving score that starts at the first score, so numbers are easy to
    check."""
    scoring = {"weights_method": "proportional", "new_model_prior": None, "ema_alpha": 0.5, **scoring}
    settings = Settings(cache_dir=tmp_path / "cache", scoring=scoring)
    return Supervisor(
        settings,
        chain,
        Store(tmp_path / state),
        executor=single_slot(),
        evaluate=stages.evaluate,
        prepare=stages.prepare,
    )


def weights_by_hotkey(chain: LocalChain) -> dict[str, float]:
    """The weights last set on chain, by hotkey."""
    last = chain.last_weights()
    assert last is not None
    hotkey = {n.uid: n.hotkey for n in chain.neurons()}
    return {hotkey[u]: w for u, w in zip(last.uids, last.weights, strict=True)}


def sandbox_round_settings(tmp_path: Path, endpoint: str, tasks: int, *extra: str) -> Settings:
    """Settings of a real round with CPU sandboxes on private paths: the local chain standing still, a mirror at
    `endpoint`, `tasks` tool-call tasks of the demo's mix (where SmolLM2 earns a score); `extra` overrides last."""
    from harness.settings.root import load_settings

    return load_settings(
        [
            f"chain.local_db={tmp_path / 'chain.sqlite'}",
            "chain.block_period_s=0",
            f"state_db={tmp_path / 'state.sqlite'}",
            f"mirror.root={tmp_path / 'mirror'}",
            f"fetch.models_dir={tmp_path / 'models'}",
            f"sandbox.socket_root={tmp_path / 'run'}",
            f"hub.endpoint={endpoint}",
            f"tasks.toolcall_n={tasks}",
            "tasks.bfcl_fraction=0.0",
            'tasks.toolcall_categories={"simple": 1, "irrelevance": 3}',
            "supervisor.default_competition=toolcall",
            *extra,
        ]
    )
