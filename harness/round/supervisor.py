"""The validator's round loop: commitments → de-duplication → policy → fetch → sandbox → evaluate → weights.

Why it is shaped this way:
- Every step writes its result to the state store under a natural key before the next one starts, so a
  supervisor killed at any point (SIGKILL included) resumes the running round: finished evaluations and
  finished tasks are skipped, nothing is recorded twice.
- The prepare stage (policy from metadata + download) of the next models runs in worker threads while the
  current model is evaluated, so a round costs about the sum of the evaluations alone.
- The round's tasks are seeded by the hash of the block that opens the epoch, and only commitments in the chain
  state at that block count, so validators that start anywhere in one epoch build byte-identical task sets.
- Identical content (the unsalted content identity) belongs for good to its earliest committer (a first-seen
  registry in the store); later copies are not evaluated and get nothing, even when the original is missing.
- Scores move per model (hotkey, content identity), from a prior, through `scoring.aggregate`; every round
  ends with weights, a configured fallback when no model earns any.
- Every failure (malformed commitment, policy rejection, hash mismatch, sandbox crash, chain timeout) is
  recorded with a class and a reason, and the round goes on.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from chain.base import Chain, ChainError, CommitmentRecord, RateLimited, epoch_start
from harness.errors import StageFailure
from harness.evaluation.contract import EvaluateStage, Stopped
from harness.logging import get_logger
from harness.models.prepare import PreparedModel, prepare_commitment, prepare_deadline_s
from harness.round.executors.local import LocalExecutor
from harness.round.executors.ray_executor import RayExecutor
from harness.sandbox.pool import Slot, SlotPool
from harness.settings.root import Settings
from harness.state.store import ModelRecord, Store
from scoring.aggregate import Claim, RoundEntry, RoundWeights, earliest_claim, round_weights

log = get_logger(__name__)


PrepareStage = Callable[[CommitmentRecord, Settings], PreparedModel]


def _default_prepare(record: CommitmentRecord, settings: Settings) -> PreparedModel:
    assert record.commitment is not None
    return prepare_commitment(record.commitment, record.hotkey, settings)


@dataclass
class Candidate:
    """An eligible commitment of the round, with its model record and (once submitted) its prepare future."""

    record: CommitmentRecord
    model: ModelRecord
    future: Future[PreparedModel] | None = None

    @property
    def uid(self) -> int:
        return self.record.uid if self.record.uid is not None else NO_UID


NO_UID = 1 << 30  # sorts after every real uid


@dataclass(frozen=True)
class ModelResult:
    """What one model contributed to a round: its content identity (None if never fetched), this round's score
    (None: not evaluated this round) and whether it passed policy."""

    identity: str | None
    score: float | None
    passed_policy: bool


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        chain: Chain,
        store: Store,
        *,
        evaluate: EvaluateStage,
        prepare: PrepareStage = _default_prepare,
        executor: LocalExecutor | RayExecutor | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.supervisor
        self.chain = chain
        self.store = store
        self.evaluate = evaluate
        self.prepare = prepare
        # One sandbox slot unless told otherwise: tests and callers that build a Supervisor keep running models
        # one at a time; the service passes `executor_for(settings.sandbox)`.
        self.executor = executor or LocalExecutor(SlotPool([Slot(0)]))
        self._locks_guard = threading.Lock()
        self._content_locks: dict[str, threading.Lock] = {}
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
                if not self.epoch_done():
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

    def epoch_done(self) -> bool:
        """True when this epoch's round already finished: its seed, hence its tasks, would be the same again."""
        if self.store.current_round() is not None:
            return False
        last = self.store.last_finished_round()
        return last is not None and last.block == epoch_start(self.chain.current_block(), self.chain.tempo())

    # -- one round ------------------------------------------------------------------------------------------

    def run_round(self) -> int:
        """Run (or resume) one round to its end and return its id; raises `Stopped` when asked to stop.

        The round's seed is the hash of the block that opens the current epoch, and only commitments in the chain
        state at that block count, so every validator that starts a round anywhere in the epoch evaluates the
        same models on byte-identical tasks. A resumed round keeps its seed block.
        """
        block = self.chain.current_block()
        seed_block = epoch_start(block, self.chain.tempo())
        rnd = self.store.begin_round(seed_block, self.chain.block_hash(seed_block))
        resumed = rnd.block != seed_block
        seed_block = rnd.block if rnd.block is not None else seed_block
        seed = rnd.block_hash or str(seed_block)
        log.info("round", round=rnd.id, seed_block=seed_block, block=block, resumed=resumed)
        candidates = self._candidates(rnd.id, seed_block)
        # With N slots, N models are evaluated at once, so N times as many are prepared ahead.
        ahead = self.config.prepare_ahead * len(self.executor) if self.executor.prepares_on_head else 0
        submit_lock = threading.Lock()
        with ThreadPoolExecutor(max_workers=max(ahead, 1), thread_name_prefix="prepare") as pool:

            def job(index: int, candidate: Candidate) -> RoundEntry:
                with submit_lock:
                    for upcoming in candidates[index : index + 1 + ahead]:
                        if upcoming.future is None and self._needs_prepare(rnd.id, upcoming):
                            upcoming.future = pool.submit(self.prepare, upcoming.record, self.settings)
                self._check_stop(candidates)
                self.heartbeat = time.monotonic()
                result = self.executor.process(self, rnd.id, seed, candidate)
                return RoundEntry(
                    uid=candidate.uid,
                    hotkey=candidate.record.hotkey,
                    identity=result.identity,
                    block=candidate.record.block,
                    score=result.score,
                    passed_policy=result.passed_policy,
                )

            entries = self.executor.map([functools.partial(job, i, c) for i, c in enumerate(candidates)])
        self._set_weights(rnd.id, entries)
        self.store.finish_round(rnd.id, "done")
        log.info("round finished", round=rnd.id, scored=sum(1 for e in entries if e.score is not None))
        return rnd.id

    def _check_stop(self, candidates: list[Candidate]) -> None:
        if self.stop_event.is_set():
            for candidate in candidates:
                if candidate.future is not None:
                    candidate.future.cancel()
            raise Stopped()

    def _candidates(self, round_id: int, seed_block: int) -> list[Candidate]:
        """Well-formed commitments as of the seed block, in commit order (earliest block, then lower uid);
        malformed ones are recorded."""
        candidates: list[Candidate] = []
        for record in self.chain.commitments(at_block=seed_block):
            if record.block > seed_block:  # a chain that ignores `at_block` must not leak later commitments in
                continue
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
            candidates.append(Candidate(record, model))
        candidates.sort(key=lambda c: (c.record.block, c.uid))
        return candidates[: self.config.max_models_per_round]

    def _needs_prepare(self, round_id: int, candidate: Candidate) -> bool:
        """False for a model judged before a restart (rejected, or its evaluation finished): no second download."""
        verdict = self.store.verdict(round_id, candidate.model.id)
        if verdict is not None and not verdict[0]:
            return False
        evaluation = self.store.evaluation_of(round_id, candidate.model.id)
        return evaluation is None or not evaluation.finished

    def _failed_score(self) -> float | None:
        return 0.0 if self.settings.scoring.failed_evaluation_scores_zero else None

    def _owner(self, round_id: int, candidate: Candidate, identity: str) -> str:
        """The hotkey that owns `identity` for good: the earliest commitment ever seen with it."""
        known = self.store.identity_owner(identity)
        mine = Claim(candidate.record.block, candidate.uid, candidate.record.hotkey)
        owner = earliest_claim(Claim(*known) if known else None, mine)
        if owner == mine and known != (mine.block, mine.uid, mine.hotkey):
            self.store.set_identity_owner(identity, mine.block, mine.uid, mine.hotkey, round_id)
        return owner.hotkey

    def process_model(self, round_id: int, seed: str, candidate: Candidate) -> ModelResult:
        """One commitment through policy, fetch, de-duplication and evaluation (the unit an executor runs).

        Everything is recorded in the store as it happens; a model already judged before a restart is not
        judged again. Safe to run for several models at once (the store is shared between threads): whichever
        order copies and originals finish in, the earliest commitment ends up owning the content, and the
        round's weights (`round_weights`, over the whole registry) give a copy nothing."""
        record, model = candidate.record, candidate.model
        subject = f"model:{model.id}"
        known_identity = self.store.model_identity(model.id)
        verdict = self.store.verdict(round_id, model.id)
        if verdict is not None and not verdict[0]:
            return ModelResult(known_identity, None, False)  # rejected before a restart: already recorded
        done = self.store.evaluation_of(round_id, model.id)
        if done is not None and done.finished:
            score = done.score if done.status == "done" else self._failed_score()
            return ModelResult(done.content_hash, score, True)
        try:
            if candidate.future is not None and not candidate.future.cancel():  # started: wait, with a deadline
                prepared = candidate.future.result(timeout=prepare_deadline_s(self.settings))
            else:  # never submitted, or still queued behind a slow one: run it here (its stages have deadlines)
                prepared = self.prepare(record, self.settings)
        except FutureTimeout:
            message = f"prepare did not finish within {prepare_deadline_s(self.settings):g} s"
            self.store.record_failure(round_id, subject, "prepare", "prepare-timeout", message)
            log.warning("prepare timed out", model=model.repo)
            return ModelResult(known_identity, None, False)  # never judged: not eligible for fallback weights
        except StageFailure as exc:
            if exc.stage == "policy":
                self.store.record_verdict(round_id, model.id, False, exc.details.get("violations") or [])
            self.store.record_failure(round_id, subject, exc.stage, exc.failure_class, str(exc))
            log.info("model not evaluated", model=model.repo, stage=exc.stage, failure=exc.failure_class)
            return ModelResult(known_identity, None, exc.stage != "policy")
        except Exception as exc:  # an unexpected bug in one model's preparation must not end the round
            self.store.record_failure(round_id, subject, "prepare", "error", f"{type(exc).__name__}: {exc}")
            log.exception("prepare failed", model=model.repo)
            return ModelResult(known_identity, None, False)
        self.store.record_verdict(round_id, model.id, True, [])
        self.store.record_model_identity(model.id, prepared.identity)
        owner = self._owner(round_id, candidate, prepared.identity)
        if owner != record.hotkey:
            self.store.record_failure(
                round_id, subject, "dedupe", "copy", f"identical content to the earlier commitment of {owner}"
            )
            return ModelResult(prepared.identity, None, True)
        return ModelResult(prepared.identity, self._evaluate(round_id, seed, candidate, prepared), True)

    def _content_lock(self, identity: str) -> threading.Lock:
        with self._locks_guard:
            return self._content_locks.setdefault(identity, threading.Lock())

    def _evaluate(self, round_id: int, seed: str, candidate: Candidate, prepared: PreparedModel) -> float | None:
        """One evaluation per content and round: with several slots, a copy and its original can reach here at
        the same time; the second waits for the first and takes its finished evaluation."""
        with self._content_lock(prepared.identity):
            return self._evaluate_content(round_id, seed, candidate, prepared)

    def _evaluate_content(
        self, round_id: int, seed: str, candidate: Candidate, prepared: PreparedModel
    ) -> float | None:
        model = candidate.model
        evaluation = self.store.start_evaluation(round_id, model.id, prepared.identity)
        if evaluation.finished:
            return evaluation.score if evaluation.status == "done" else self._failed_score()
        done = {
            task: {**(details or {}), "score": score}
            for task, (score, details) in self.store.task_results(evaluation.id).items()
        }
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
            return self._failed_score()
        except Exception as exc:  # a harness bug on one model is recorded; the round goes on
            self.store.fail_evaluation(evaluation.id, "error", f"{type(exc).__name__}: {exc}")
            log.exception("evaluation error", model=model.repo)
            return self._failed_score()
        if outcome.details.get("budget_exceeded"):
            self.store.record_failure(
                round_id, f"model:{model.id}", "evaluate", "time-budget", "unanswered tasks scored 0"
            )
        self.store.finish_evaluation(evaluation.id, outcome.score, outcome.details)
        log.info("evaluated", model=model.repo, score=round(outcome.score, 4))
        return outcome.score

    # -- weights ----------------------------------------------------------------------------------------------

    def round_weights(self, round_id: int, entries: list[RoundEntry]) -> RoundWeights:
        """Copies, moving scores and weights by `scoring.aggregate` (the tested pure functions); the moving
        scores are recorded once per round, so a resumed round computes the same weights again."""
        scoring = self.settings.scoring
        owners = {identity: Claim(*claim) for identity, claim in self.store.identity_owners().items()}
        result = round_weights(
            entries,
            self.store.moving_scores_before(round_id),
            owners=owners,
            alpha=scoring.ema_alpha,
            prior=scoring.new_model_prior,
            method=scoring.weights_method,
            temperature=scoring.softmax_temperature,
            fallback=scoring.weights_fallback,
            burn_uid=scoring.burn_uid,
        )
        self.store.record_moving_scores(round_id, result.moving)
        return result

    def _set_weights(self, round_id: int, entries: list[RoundEntry]) -> None:
        if self.store.weights_for(round_id) is not None:
            return  # set before a restart
        result = self.round_weights(round_id, entries)
        registered = {n.uid: n.hotkey for n in self.chain.neurons()}
        hotkey_of = {e.uid: e.hotkey for e in entries}
        weights = {
            u: w for u, w in result.weights.items() if result.mode == "burn" or registered.get(u) == hotkey_of[u]
        }
        mode = result.mode if weights else "burn"
        if not weights:  # every earner deregistered since the seed block
            weights = {self.settings.scoring.burn_uid: 1.0}
        if mode != "scores":
            self.store.record_failure(
                round_id, "round", "weights", f"fallback-{mode}", f"no model earned a score: weights set by {mode}"
            )
        uids = sorted(weights)
        values = [weights[u] for u in uids]
        try:
            receipt = self.chain.set_weights(uids, values)
        except RateLimited as exc:
            self.store.record_failure(round_id, "round", "weights", "rate-limited", str(exc))
            return
        except ChainError as exc:
            self.store.record_failure(round_id, "round", "weights", type(exc).__name__, str(exc))
            log.warning("set_weights failed", error=str(exc))
            return
        self.store.record_weights(
            round_id, uids, values, block=receipt.block, receipt={"message": receipt.message, "mode": mode}
        )
        log.info("weights set", round=round_id, mode=mode, uids=uids, weights=[round(v, 4) for v in values])
