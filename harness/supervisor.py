"""The validator's round loop: commitments → de-duplication → policy → fetch → sandbox → evaluate → weights.

Why it is shaped this way:
- Every step writes its result to the state store under a natural key before the next one starts, so a
  supervisor killed at any point (SIGKILL included) resumes the running round: finished evaluations and
  finished tasks are skipped, nothing is recorded twice.
- The prepare stage (policy from metadata + download) of the next models runs in worker threads while the
  current model is evaluated, so a round costs about the sum of the evaluations alone.
- Identical content (the unsalted content identity) is evaluated once; the earliest commitment gets the
  score and later copies get nothing.
- Every failure (malformed commitment, policy rejection, hash mismatch, sandbox crash, chain timeout) is
  recorded with a class and a reason, and the round goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol

from chain.base import Chain, ChainError, CommitmentRecord, RateLimited
from harness.config import Settings
from harness.logging import get_logger
from harness.prepare import PreparedModel, StageFailure, prepare_commitment, prepare_deadline_s
from harness.store import ModelRecord, Store

log = get_logger(__name__)


class Stopped(Exception):
    """The supervisor was asked to stop; the current step is checkpointed and the round resumes later."""


@dataclass(frozen=True)
class EvaluationOutcome:
    score: float
    details: dict[str, Any] = field(default_factory=dict)


TaskRecorder = Callable[[str, float, dict[str, Any] | None], None]


class EvaluateStage(Protocol):
    """Runs one prepared model's task set in a sandbox; records each finished task through `record`."""

    def __call__(
        self,
        prepared: PreparedModel,
        *,
        competition: str,
        seed: str,
        done: Mapping[str, float],
        record: TaskRecorder,
        deadline: float,
        stop: threading.Event,
    ) -> EvaluationOutcome: ...


PrepareStage = Callable[[CommitmentRecord, Settings], PreparedModel]
WeighStage = Callable[[Mapping[str, float]], dict[str, float]]


def _default_prepare(record: CommitmentRecord, settings: Settings) -> PreparedModel:
    assert record.commitment is not None
    return prepare_commitment(record.commitment, record.hotkey, settings)


@dataclass
class _Candidate:
    record: CommitmentRecord
    model: ModelRecord
    future: Future[PreparedModel] | None = None


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        chain: Chain,
        store: Store,
        *,
        evaluate: EvaluateStage,
        weigh: WeighStage,
        ema: Callable[[list[float]], float],
        prepare: PrepareStage = _default_prepare,
    ) -> None:
        self.settings = settings
        self.config = settings.supervisor
        self.chain = chain
        self.store = store
        self.evaluate = evaluate
        self.weigh = weigh
        self.ema = ema
        self.prepare = prepare
        self.stop_event = threading.Event()
        self.heartbeat = time.monotonic()

    # -- service loop ---------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stop_event.set()

    def alive(self) -> bool:
        """For /health: the loop has made progress recently (a wedged loop stops answering healthy)."""
        limit = max(self.config.round_interval_s, self.config.model_time_budget_s) * 2 + 60
        return time.monotonic() - self.heartbeat < limit

    def run_forever(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.run_round()
            except Stopped:
                break
            except ChainError as exc:  # the chain is down: nothing to do this round; try again next time
                log.warning("round skipped: chain unavailable", error=str(exc))
            wait = self.config.round_interval_s - (time.monotonic() - started)
            self.heartbeat = time.monotonic()
            if wait > 0 and self.stop_event.wait(wait):
                break
        log.info("supervisor stopped")

    # -- one round ------------------------------------------------------------------------------------------

    def run_round(self) -> int:
        """Run (or resume) one round to its end and return its id; raises `Stopped` when asked to stop."""
        block = self.chain.current_block()
        rnd = self.store.begin_round(block, self.chain.block_hash(block))
        seed = rnd.block_hash or str(rnd.block)
        log.info("round", round=rnd.id, block=rnd.block, resumed=rnd.block != block)
        candidates = self._candidates(rnd.id)
        winners: dict[str, str] = {}  # content identity -> hotkey of the earliest commitment
        scores: dict[str, float] = {}
        ahead = self.config.prepare_ahead
        with ThreadPoolExecutor(max_workers=max(ahead, 1), thread_name_prefix="prepare") as pool:
            for index, candidate in enumerate(candidates):
                for upcoming in candidates[index : index + 1 + ahead]:
                    if upcoming.future is None and self._needs_prepare(rnd.id, upcoming):
                        upcoming.future = pool.submit(self.prepare, upcoming.record, self.settings)
                self._check_stop(candidates)
                self.heartbeat = time.monotonic()
                score = self._process(rnd.id, seed, candidate, winners)
                if score is not None:
                    scores[candidate.record.hotkey] = score
        self._set_weights(rnd.id, scores)
        self.store.finish_round(rnd.id, "done")
        log.info("round finished", round=rnd.id, scored=len(scores))
        return rnd.id

    def _check_stop(self, candidates: list[_Candidate]) -> None:
        if self.stop_event.is_set():
            for candidate in candidates:
                if candidate.future is not None:
                    candidate.future.cancel()
            raise Stopped()

    def _candidates(self, round_id: int) -> list[_Candidate]:
        """Well-formed commitments in commit order (earliest block first); malformed ones are recorded."""
        candidates: list[_Candidate] = []
        for record in self.chain.commitments():
            if not record.ok:
                self.store.record_failure(
                    round_id, f"hotkey:{record.hotkey}", "commitment", "malformed", record.error or "unparseable"
                )
                continue
            commitment = record.commitment
            assert commitment is not None
            model = self.store.record_model(
                hotkey=record.hotkey,
                repo=commitment.repo_id,
                revision=commitment.revision,
                content_hash=commitment.content_hash,
                commit_block=record.block,
                uid=record.uid,
                competition=commitment.competition,
                round_id=round_id,
            )
            candidates.append(_Candidate(record, model))
        candidates.sort(key=lambda c: (c.record.block, c.record.uid if c.record.uid is not None else 1 << 30))
        return candidates[: self.config.max_models_per_round]

    def _needs_prepare(self, round_id: int, candidate: _Candidate) -> bool:
        """False for a model judged before a restart (rejected, or its evaluation finished): no second download."""
        verdict = self.store.verdict(round_id, candidate.model.id)
        if verdict is not None and not verdict[0]:
            return False
        return self._outcome_of(round_id, candidate.model.id) is None

    def _outcome_of(self, round_id: int, model_id: int) -> dict[str, Any] | None:
        for evaluation in self.store.evaluations(round_id):
            if evaluation.model_id == model_id and evaluation.finished:
                return {"status": evaluation.status, "score": evaluation.score, "identity": evaluation.content_hash}
        return None

    def _process(self, round_id: int, seed: str, candidate: _Candidate, winners: dict[str, str]) -> float | None:
        """One commitment through policy, fetch and evaluation; returns its score, or None if it earns none."""
        record, model = candidate.record, candidate.model
        subject = f"model:{model.id}"
        verdict = self.store.verdict(round_id, model.id)
        if verdict is not None and not verdict[0]:
            return None  # rejected before a restart: already recorded
        done = self._outcome_of(round_id, model.id)
        if done is not None:
            winners.setdefault(done["identity"], record.hotkey)
            if winners[done["identity"]] != record.hotkey:
                return None
            return float(done["score"]) if done["status"] == "done" else None
        try:
            if candidate.future is not None and not candidate.future.cancel():  # started: wait, with a deadline
                prepared = candidate.future.result(timeout=prepare_deadline_s(self.settings))
            else:  # never submitted, or still queued behind a slow one: run it here (its stages have deadlines)
                prepared = self.prepare(record, self.settings)
        except FutureTimeout:
            message = f"prepare did not finish within {prepare_deadline_s(self.settings):g} s"
            self.store.record_failure(round_id, subject, "prepare", "prepare-timeout", message)
            log.warning("prepare timed out", model=model.repo)
            return None
        except StageFailure as exc:
            if exc.stage == "policy":
                self.store.record_verdict(round_id, model.id, False, exc.details.get("violations") or [])
            self.store.record_failure(round_id, subject, exc.stage, exc.failure_class, str(exc))
            log.info("model not evaluated", model=model.repo, stage=exc.stage, failure=exc.failure_class)
            return None
        except Exception as exc:  # an unexpected bug in one model's preparation must not end the round
            self.store.record_failure(round_id, subject, "prepare", "error", f"{type(exc).__name__}: {exc}")
            log.exception("prepare failed", model=model.repo)
            return None
        self.store.record_verdict(round_id, model.id, True, [])
        original = winners.get(prepared.identity)
        if original is not None and original != record.hotkey:
            self.store.record_failure(
                round_id, subject, "dedupe", "copy", f"identical content to the earlier commitment of {original}"
            )
            return None
        winners[prepared.identity] = record.hotkey
        return self._evaluate(round_id, seed, candidate, prepared)

    def _evaluate(self, round_id: int, seed: str, candidate: _Candidate, prepared: PreparedModel) -> float | None:
        model = candidate.model
        evaluation = self.store.start_evaluation(round_id, model.id, prepared.identity)
        if evaluation.finished:
            return evaluation.score if evaluation.status == "done" else None
        done = {task: score for task, (score, _details) in self.store.task_results(evaluation.id).items()}
        competition = candidate.record.commitment.competition if candidate.record.commitment else None
        competition = competition or self.config.default_competition

        def record(task_id: str, score: float, details: dict[str, Any] | None) -> None:
            self.store.record_task_result(evaluation.id, task_id, score, details)
            self.heartbeat = time.monotonic()

        deadline = time.monotonic() + self.config.model_time_budget_s
        try:
            outcome = self.evaluate(
                prepared,
                competition=competition,
                seed=seed,
                done=done,
                record=record,
                deadline=deadline,
                stop=self.stop_event,
            )
        except Stopped:
            raise
        except StageFailure as exc:
            self.store.fail_evaluation(evaluation.id, exc.failure_class, str(exc), stage=exc.stage)
            log.info("evaluation failed", model=model.repo, failure=exc.failure_class)
            return None
        except Exception as exc:  # a harness bug on one model is recorded; the round goes on
            self.store.fail_evaluation(evaluation.id, "error", f"{type(exc).__name__}: {exc}")
            log.exception("evaluation error", model=model.repo)
            return None
        if outcome.details.get("budget_exceeded"):
            self.store.record_failure(
                round_id, f"model:{model.id}", "evaluate", "time-budget", "unanswered tasks scored 0"
            )
        self.store.finish_evaluation(evaluation.id, outcome.score, outcome.details)
        log.info("evaluated", model=model.repo, score=round(outcome.score, 4))
        return outcome.score

    # -- weights ----------------------------------------------------------------------------------------------

    def _moving_scores(self, round_id: int, scores: Mapping[str, float]) -> dict[str, float]:
        """Each scored miner's moving average over its earlier rounds' scores and this one."""
        history: dict[str, list[float]] = {}
        first = max(1, round_id - self.config.ema_window)
        for earlier in range(first, round_id):
            for row in self.store.leaderboard(earlier):
                history.setdefault(row["hotkey"], []).append(float(row["score"]))
        return {hotkey: self.ema([*history.get(hotkey, []), score]) for hotkey, score in scores.items()}

    def _set_weights(self, round_id: int, scores: Mapping[str, float]) -> None:
        if self.store.weights_for(round_id) is not None:
            return  # set before a restart
        weights = self.weigh(self._moving_scores(round_id, scores))
        uid_of = {n.hotkey: n.uid for n in self.chain.neurons()}
        pairs = sorted((uid_of[h], w) for h, w in weights.items() if h in uid_of and w > 0)
        if not pairs:
            self.store.record_failure(round_id, "round", "weights", "no-scores", "no model earned a score")
            return
        uids, values = [p[0] for p in pairs], [p[1] for p in pairs]
        try:
            receipt = self.chain.set_weights(uids, values)
        except RateLimited as exc:
            self.store.record_failure(round_id, "round", "weights", "rate-limited", str(exc))
            return
        except ChainError as exc:
            self.store.record_failure(round_id, "round", "weights", type(exc).__name__, str(exc))
            log.warning("set_weights failed", error=str(exc))
            return
        self.store.record_weights(round_id, uids, values, block=receipt.block, receipt={"message": receipt.message})
        log.info("weights set", round=round_id, uids=uids, weights=[round(v, 4) for v in values])
