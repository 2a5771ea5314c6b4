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
  recorded with a class and a reason, and the round goes on. Only a policy rejection is a verdict: a Hub that
  could not be reached says nothing about the model, which keeps its standing and is prepared again.
- A round is bounded (`supervisor.round_budget_s`, or the epoch's end where the block time is known): models
  are taken in the schedule's order (`harness.round.schedule`: new, leaders, stalest); none is started after the
  deadline, nor (once every slot has one) when less is left than a model has been taking (`Durations`); a wait
  for a download ends at the deadline, a model whose download ends after it is not evaluated, an evaluation the
  deadline cut is discarded (its tasks were this round's), and weights are set from the moving standings all the
  same, at the deadline. Whatever was not reached is carried: the schedule puts it first next round.
- Where the stages run is the executor's business (`harness.round.executors.base.Executor`, picked by the
  service); what their results mean is decided here only, the same for every executor.
"""

from __future__ import annotations

import functools
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any

from chain.base import Chain, ChainError, CommitmentRecord, epoch_start
from harness.errors import Failure, StageFailure
from harness.evaluation.contract import EvaluateStage, EvaluationOutcome, EvaluationRequest, Stopped
from harness.feed.round_feed import round_feed
from harness.feed.tasks import FeedTasks
from harness.feed.wiring import read_epoch_feed
from harness.fingerprint import scoring_fingerprint
from harness.logging import get_logger
from harness.models.prepare import PreparedModel, prepare_deadline_s, prepare_record
from harness.models.sketch import SKETCH_VERSION, ModelSketch, SketchError, nearest
from harness.round.executors.base import Executor, ModelJob, ModelStages, PastDeadline, PrepareStage
from harness.round.round_fingerprint import record_round_fingerprint
from harness.round.schedule import Work, order
from harness.settings.root import Settings
from harness.state.reveals import watch_weights
from harness.state.store import Evaluation, ModelRecord, Store
from scoring.aggregate import Claim, RoundEntry, RoundWeights, round_weights

log = get_logger(__name__)


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
    outcome: str | None = None
    """How the visit concluded (`evaluated`, `rejected`, `copy`, `unprepared`); None: it did not (the deadline
    cut its evaluation), so the model counts as not visited and the schedule takes it up again."""


def competition_of(record: CommitmentRecord, default: str) -> str:
    """The competition a commitment entered: the one it names, else the validator's default."""
    named = record.commitment.competition if record.commitment is not None else None
    return named or default


BITTENSOR_BLOCK_S = 12.0
"""Seconds per block on a subtensor chain: the epoch deadline's unit when `supervisor.block_time_s` is unset."""
DEADLINE_CLASS = "deadline"
"""The failure class of an evaluation cut by the round's deadline: discarded, not the model's result."""


class Durations:
    """How long a model has been taking this validator, prepare to evaluation's end (the `clock`'s seconds): the
    median of the last `keep` models it evaluated to the end. A round starts no model when less than that is
    left: the model would most likely be cut at the deadline (its work discarded) or, if its download outlasted
    `weights_margin_s`, set the weights late. Timing decides only how far down the schedule a validator gets,
    never the order. Kept in memory: a restarted supervisor learns it again from its first models."""

    def __init__(self, keep: int = 32) -> None:
        self._seen: deque[float] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._seen.append(seconds)

    def expected(self) -> float:
        """The median duration; 0 before any model was evaluated (nothing is held back then)."""
        with self._lock:
            return statistics.median(self._seen) if self._seen else 0.0


def _cut_by_deadline(evaluation: Evaluation) -> bool:
    """An evaluation the round's deadline cut (`DEADLINE_CLASS`): discarded, the model carried."""
    return evaluation.status == "failed" and evaluation.details.get("class") == DEADLINE_CLASS


def _evaluated_elsewhere(prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
    raise StageFailure("executor", "no-stage", "this supervisor has no evaluate stage: its executor runs them")


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        chain: Chain,
        store: Store,
        *,
        executor: Executor,
        evaluate: EvaluateStage | None = None,
        prepare: PrepareStage = prepare_record,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`evaluate` and `prepare` are the head's own stages, run by an executor that runs models here (one
        that runs them on workers brings its own). `clock` measures the round's budget (a simulation's clock in
        `bench.bench_subnet`; its unit is the seconds of `EvaluationRequest.deadline`)."""
        if evaluate is None and executor.prepares_on_head:
            raise ValueError("an executor that runs models on this host needs the evaluate stage")
        self.settings = settings
        self.config = settings.supervisor
        self.chain = chain
        self.store = store
        self.evaluate: EvaluateStage = evaluate or _evaluated_elsewhere
        self.prepare = prepare
        self.executor = executor
        self.clock = clock
        self._locks_guard = threading.Lock()
        self._content_locks: dict[str, threading.Lock] = {}
        self.stop_event = threading.Event()
        self.heartbeat = time.monotonic()
        self._round_feeds: dict[int, FeedTasks | None] = {}  # round id -> the task feed it read at its start
        self.durations = Durations()

    # -- service loop ---------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stop_event.set()

    def beat(self) -> None:
        """The loop made progress (a model's task recorded, a remote model still running)."""
        self.heartbeat = time.monotonic()

    def alive(self) -> bool:
        """For /health: the loop has made progress recently (a wedged loop stops answering healthy)."""
        limit = max(self.config.round_interval_s, self.config.model_time_budget_s) * 2 + 60
        return time.monotonic() - self.heartbeat < limit

    def run_forever(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            watch_weights(self.store, self.chain)  # commits revealed? activity cutoff near? (never raises)
            try:
                if not self.epoch_done():
                    self.run_round()
            except Stopped:
                break
            except ChainError as exc:  # the chain is down: nothing to do this round; try again next time
                log.warning("round skipped: chain unavailable", error=str(exc))
            wait = self.config.round_interval_s - (time.monotonic() - started)
            self.beat()
            if wait > 0 and self.stop_event.wait(wait):
                break
        log.info("supervisor stopped")

    def epoch_done(self) -> bool:
        """True when this epoch's round already finished: its seed, hence its tasks, would be the same again."""
        if self.store.read.current_round() is not None:
            return False
        last = self.store.read.last_finished_round()
        return last is not None and last.block == epoch_start(self.chain.current_block(), self.chain.tempo())

    # -- one round ------------------------------------------------------------------------------------------

    def run_round(self) -> int:
        """Run (or resume) one round to its end and return its id; raises `Stopped` when asked to stop.

        The round's seed is the hash of the block that opens the current epoch, and only commitments in the chain
        state at that block count, so every validator that starts a round anywhere in the epoch evaluates the
        same models on byte-identical tasks. A resumed round keeps its seed block.
        """
        block = self.chain.current_block()
        tempo = self.chain.tempo()
        seed_block = epoch_start(block, tempo)
        rnd = self.store.begin_round(seed_block, self.chain.block_hash(seed_block))
        resumed = rnd.block != seed_block
        seed_block = rnd.block if rnd.block is not None else seed_block
        seed = rnd.block_hash or str(seed_block)
        epoch = seed_block // tempo
        deadline = self._deadline(seed_block, tempo, block)
        log.info("round", round=rnd.id, seed_block=seed_block, block=block, resumed=resumed)
        record_round_fingerprint(self.store, rnd.id, scoring_fingerprint())
        self._read_round_feed(rnd.id, seed_block)
        eligible = self._candidates(rnd.id, seed_block, seed, epoch)
        candidates = eligible[: self.config.max_models_per_round]
        budget = None if math.isinf(deadline) else max(deadline - self.clock(), 0.0)
        self.store.record_round_schedule(rnd.id, epoch, len(candidates), budget)
        # With N slots, N models are evaluated at once, so N times as many are prepared ahead.
        ahead = self.config.prepare_ahead * len(self.executor) if self.executor.prepares_on_head else 0
        submit_lock = threading.Lock()
        started = [0]  # models this round started (each slot's first one starts whatever the estimate says)
        held: list[float] = []  # what the estimate was, for each model it held back
        with ThreadPoolExecutor(max_workers=max(ahead, 1), thread_name_prefix="prepare") as pool:

            def job(index: int, candidate: Candidate) -> RoundEntry:
                begin = self.clock()
                with submit_lock:
                    if begin >= deadline:  # the budget is spent: carried to the next round, started by nobody
                        return self._carried(candidate)
                    expected = self.durations.expected()
                    if started[0] >= len(self.executor) and deadline - begin < expected:
                        held.append(expected)  # it would most likely not finish (or fetch late): not started
                        return self._carried(candidate)
                    started[0] += 1
                    for upcoming in candidates[index : index + 1 + ahead] if ahead else []:
                        if upcoming.future is None and self._judged(rnd.id, upcoming) is None:
                            upcoming.future = pool.submit(self.prepare, upcoming.record, self.settings)
                self._check_stop(candidates)
                self.beat()
                judged_before = self._judged(rnd.id, candidate) is not None
                result = self.process_model(rnd.id, seed, candidate, deadline=deadline)
                if result.outcome is not None:
                    self.store.record_visit(rnd.id, candidate.model.id, epoch, result.outcome)
                if result.outcome == "evaluated" and not judged_before:
                    self.durations.add(self.clock() - begin)
                return self._entry(candidate, result)

            entries = self.executor.map([functools.partial(job, i, c) for i, c in enumerate(candidates)])
            for candidate in candidates:  # preparations ahead of models the deadline left out: not started
                if candidate.future is not None:
                    candidate.future.cancel()
            entries += [self._carried(c) for c in eligible[len(candidates) :]]
            self._note_carried(rnd.id, entries, len(eligible), held)
            self._set_weights(rnd.id, entries)  # before waiting for preparations still running: on time
        self.store.finish_round(rnd.id, "done")
        log.info("round finished", round=rnd.id, scored=sum(1 for e in entries if e.score is not None))
        return rnd.id

    def _deadline(self, seed_block: int, tempo: int, block: int) -> float:
        """The `clock` value after which the round starts no model and cuts the ones running: the fixed budget
        (`supervisor.round_budget_s`, 0 none), else `weights_margin_s` before the epoch ends where the block time
        is known. A round resumed in a later epoch is past its deadline at once: it sets weights and finishes."""
        now = self.clock()
        if self.config.round_budget_s is not None:
            return math.inf if self.config.round_budget_s == 0 else now + self.config.round_budget_s
        block_time = self.config.block_time_s
        if block_time is None:
            block_time = BITTENSOR_BLOCK_S if self.settings.chain.backend == "bittensor" else 0.0
        if block_time <= 0:
            return math.inf
        return now + (seed_block + tempo - block) * block_time - self.config.weights_margin_s

    def _entry(self, candidate: Candidate, result: ModelResult) -> RoundEntry:
        return RoundEntry(
            uid=candidate.uid,
            hotkey=candidate.record.hotkey,
            identity=result.identity,
            block=candidate.record.block,
            score=result.score,
            passed_policy=result.passed_policy,
        )

    def _carried(self, candidate: Candidate) -> RoundEntry:
        """A model the round did not reach: not scored, so it keeps its moving score and standing (and earns by
        them); its identity, when an earlier round fetched it, is what ties it to them."""
        return self._entry(candidate, self._carried_result(candidate))

    def _carried_result(self, candidate: Candidate) -> ModelResult:
        return ModelResult(self.store.read.model_identity(candidate.model.id), None, False)

    def _note_carried(self, round_id: int, entries: list[RoundEntry], eligible: int, held: list[float]) -> None:
        """Say in the round's failures how many eligible models the budget left for the next round (and how many
        of them the duration estimate held back)."""
        visited = self.store.read.round_schedule(round_id)
        reached = visited["reached"] if visited is not None else 0
        if reached < eligible:
            message = f"{eligible - reached} of {eligible} eligible models not evaluated this round: carried"
            if held:
                message += f" ({len(held)} not started: less left than the {max(held):.0f} s a model takes)"
            self.store.record_failure(round_id, "round", "schedule", "carried", message)

    def _read_round_feed(self, round_id: int, seed_block: int) -> None:
        """The epoch's task feed, read once at the round's start (or what the round read before a restart) and
        kept for every model's job; a failed read is recorded (`feed/<class>`) and the round uses local tasks."""
        feed = round_feed(self.store, round_id, lambda: read_epoch_feed(self.settings, self.chain, seed_block))
        self._round_feeds[round_id] = feed
        if feed is not None:
            log.info("task feed", round=round_id, **feed.task_set_record())

    def _check_stop(self, candidates: list[Candidate]) -> None:
        if self.stop_event.is_set():
            for candidate in candidates:
                if candidate.future is not None:
                    candidate.future.cancel()
            raise Stopped()

    def _candidates(self, round_id: int, seed_block: int, seed: str, epoch: int) -> list[Candidate]:
        """Well-formed commitments as of the seed block, in the schedule's order (`harness.round.schedule`:
        never visited in commit order, leaders, stalest; a re-commit within the cooldown waits among the visited);
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
        visits = self.store.read.last_visits()
        hotkey_visits = self.store.read.hotkey_last_first_visits()
        standings = self.store.read.moving_standings_before(round_id)
        work = [self._work(c, visits, hotkey_visits, standings) for c in candidates]
        by_id = {c.model.id: c for c in candidates}
        ordered = order(
            work,
            seed,
            leaders_per_competition=self.config.leaders_per_round,
            epoch=epoch,
            recommit_cooldown_epochs=self.config.recommit_cooldown_epochs,
        )
        return [by_id[w.model_id] for w in ordered]

    def _work(
        self,
        candidate: Candidate,
        visits: dict[int, int],
        hotkey_visits: dict[str, int],
        standings: dict[tuple[str, str], float],
    ) -> Work:
        """A candidate as the schedule sees it: its commitment, its and its hotkey's last visit, moving standing."""
        identity = self.store.read.model_identity(candidate.model.id)
        return Work(
            model_id=candidate.model.id,
            hotkey=candidate.record.hotkey,
            block=candidate.record.block,
            uid=candidate.uid,
            competition=competition_of(candidate.record, self.config.default_competition),
            last_visit=visits.get(candidate.model.id),
            standing=None if identity is None else standings.get((candidate.record.hotkey, identity)),
            hotkey_last_first_visit=hotkey_visits.get(candidate.record.hotkey),
        )

    def _judged(self, round_id: int, candidate: Candidate) -> ModelResult | None:
        """The model's result when it was judged before a restart (rejected by policy, or its evaluation
        finished): nothing is prepared, fetched or evaluated again. None: it still has to be judged."""
        model_id = candidate.model.id
        verdict = self.store.read.verdict(round_id, model_id)
        if verdict is not None and not verdict[0]:
            return ModelResult(self.store.read.model_identity(model_id), None, False, "rejected")
        evaluation = self.store.read.evaluation_of(round_id, model_id)
        if evaluation is not None and evaluation.finished:
            outcome = None if _cut_by_deadline(evaluation) else "evaluated"
            return ModelResult(evaluation.content_hash, self._score_of(evaluation), True, outcome)
        return None

    def _score_of(self, evaluation: Evaluation) -> float | None:
        """A finished evaluation's score for the weights; a failed one counts 0 or not at all (settings); one the
        round's deadline cut is no result of the model's: it is not scored this round."""
        if _cut_by_deadline(evaluation):
            return None
        return evaluation.score if evaluation.status == "done" else self._failed_score()

    def _failed_score(self) -> float | None:
        return 0.0 if self.settings.scoring.failed_evaluation_scores_zero else None

    def _prepared_here(self, candidate: Candidate, deadline: float = math.inf) -> PreparedModel:
        """The head's prepare stage for one model: the result submitted ahead, else run now. A wait for a
        preparation already running ends at the round's deadline (`PastDeadline`: the download goes on in its
        thread, the model is carried and the weights are not late)."""
        if candidate.future is not None and not candidate.future.cancel():  # started: wait, with a deadline
            limit = prepare_deadline_s(self.settings)
            left = max(deadline - self.clock(), 0.0)
            try:
                return candidate.future.result(timeout=min(limit, left))
            except FutureTimeout:
                if left < limit:
                    raise PastDeadline() from None
                raise
        return self.prepare(candidate.record, self.settings)  # queued or never submitted; its stages have deadlines

    def _job(self, round_id: int, seed: str, candidate: Candidate, deadline: float = math.inf) -> ModelJob:
        """The model's job; its time budget is the model's own (`model_time_budget_s`) or what is left of the
        round's, whichever ends first."""
        evaluation = self.store.read.evaluation_of(round_id, candidate.model.id)
        return ModelJob(
            record=candidate.record,
            settings=self.settings,
            competition=competition_of(candidate.record, self.config.default_competition),
            seed=seed,
            done=self.store.read.recorded_tasks(evaluation),
            budget_s=min(self.config.model_time_budget_s, max(deadline - self.clock(), 0.0)),
            feed=self._round_feeds.get(round_id),
            round_left_s=max(deadline - self.clock(), 0.0),
        )

    def process_model(
        self, round_id: int, seed: str, candidate: Candidate, *, deadline: float = math.inf
    ) -> ModelResult:
        """One commitment through policy, fetch, de-duplication and evaluation (the head's side of a model).

        Everything is recorded in the store as it happens; a model already judged before a restart is not
        judged again. Safe to run for several models at once (the store is shared between threads): whichever
        order copies and originals finish in, the earliest commitment ends up owning the content, and the
        round's weights (`round_weights`, over the whole registry) give a copy nothing."""
        judged = self._judged(round_id, candidate)
        if judged is not None:
            return judged
        record, model = candidate.record, candidate.model
        job = self._job(round_id, seed, candidate, deadline)
        here = ModelStages(prepare=functools.partial(self._prepared_here, candidate, deadline), evaluate=self.evaluate)
        stages = self.executor.stages(job, here, heartbeat=self.beat, stop=self.stop_event)
        try:
            prepared = stages.prepare()
        except PastDeadline:
            log.info("download outlasted the round's deadline: carried", model=model.repo)
            return self._carried_result(candidate)
        except FutureTimeout:
            message = f"prepare did not finish within {prepare_deadline_s(self.settings):g} s"
            failure = Failure("prepare", "prepare-timeout", message)
            return self._not_prepared(round_id, candidate, failure, eligible=False)  # never judged
        except StageFailure as exc:
            return self._not_prepared(round_id, candidate, exc.failure, eligible=True)
        except Stopped:
            raise
        except Exception as exc:  # an unexpected bug in one model's preparation must not end the round
            log.exception("prepare failed", model=model.repo)
            return self._not_prepared(round_id, candidate, Failure.of(exc, "prepare"), eligible=False)
        self.store.record_verdict(round_id, model.id, True, [])
        self.store.record_model_identity(model.id, prepared.identity)
        owner = self.store.claim_identity(
            prepared.identity, Claim(record.block, candidate.uid, record.hotkey), round_id
        )
        if owner.hotkey != record.hotkey:
            message = f"identical content to the earlier commitment of {owner.hotkey}"
            self.store.record_failure(round_id, f"model:{model.id}", "dedupe", "copy", message)
            return ModelResult(prepared.identity, None, True, "copy")
        self._near_copy_signal(round_id, candidate, prepared)
        if self.clock() >= deadline and self.executor.prepares_on_head:
            # prepared after the deadline (a long download): no engine is started for an evaluation the deadline
            # would cut at once; the model is carried, its files cached for the next round
            log.info("prepared after the round's deadline: carried", model=model.repo)
            return ModelResult(prepared.identity, None, True, None)
        score, concluded = self._evaluate(round_id, job, candidate, prepared, stages.evaluate, deadline)
        return ModelResult(prepared.identity, score, True, "evaluated" if concluded else None)

    def _near_copy_signal(self, round_id: int, candidate: Candidate, prepared: PreparedModel) -> None:
        """Store the model's weight sketch and record `dedupe/near-copy` when it is within
        `scoring.near_copy_similarity` of an earlier model of another hotkey. Only a signal for reports: the model
        is evaluated and scored as any other (fine-tunes of one base are close too; the margin rule decides)."""
        model = candidate.model
        if prepared.sketch is None:  # none made (a stage that does not sketch), or none could be: say why
            if prepared.sketch_error is not None:
                self.store.record_failure(round_id, f"model:{model.id}", "sketch", "unreadable", prepared.sketch_error)
            return
        self.store.record_model_sketch(model.id, SKETCH_VERSION, prepared.sketch)
        try:
            sketch = ModelSketch.from_bytes(prepared.sketch)
        except SketchError as exc:
            self.store.record_failure(round_id, f"model:{model.id}", "sketch", "unreadable", str(exc))
            return
        earlier = self.store.read.earlier_sketches(
            candidate.record.block, candidate.uid, candidate.record.hotkey, SKETCH_VERSION
        )
        found = nearest(sketch, ((f"{m.hotkey}'s {m.repo}", blob) for m, blob in earlier))
        if found is not None and found.similarity.value >= self.settings.scoring.near_copy_similarity:
            sim = found.similarity
            reason = f"{sim.value:.4f} to {found.label} ({sim.shared_tensors} tensors, {sim.coverage:.0%} of weights)"
            self.store.record_failure(round_id, f"model:{model.id}", "dedupe", "near-copy", reason)

    def _not_prepared(self, round_id: int, candidate: Candidate, failure: Failure, *, eligible: bool) -> ModelResult:
        """A model that did not get through prepare. A policy rejection is a verdict: the model passed nothing this
        round. Anything else (a Hub that could not be reached, a hash mismatch, a lost worker) is recorded with no
        verdict: the model keeps its standing (its moving score untouched; `eligible` for the fallback weights
        unless the stage never answered) and is prepared again next round."""
        model = candidate.model
        rejected = failure.stage == "policy" and not failure.retryable
        if rejected:
            self.store.record_verdict(round_id, model.id, False, failure.details.get("violations") or [])
        self.store.record_failure(round_id, f"model:{model.id}", failure.stage, failure.failure_class, failure.message)
        log.info("model not evaluated", model=model.repo, stage=failure.stage, failure=failure.failure_class)
        outcome = "rejected" if rejected else "unprepared"
        return ModelResult(self.store.read.model_identity(model.id), None, eligible and not rejected, outcome)

    def _content_lock(self, identity: str) -> threading.Lock:
        with self._locks_guard:
            return self._content_locks.setdefault(identity, threading.Lock())

    def _evaluate(
        self,
        round_id: int,
        job: ModelJob,
        candidate: Candidate,
        prepared: PreparedModel,
        evaluate: EvaluateStage,
        deadline: float = math.inf,
    ) -> tuple[float | None, bool]:
        """One evaluation per content and round: with several slots, a copy and its original can reach here at
        the same time; the second waits for the first and takes its finished evaluation. Returns the score and
        whether the evaluation concluded (False: the round's deadline cut it)."""
        with self._content_lock(prepared.identity):
            return self._evaluate_content(round_id, job, candidate, prepared, evaluate, deadline)

    def _evaluate_content(
        self,
        round_id: int,
        job: ModelJob,
        candidate: Candidate,
        prepared: PreparedModel,
        evaluate: EvaluateStage,
        deadline: float,
    ) -> tuple[float | None, bool]:
        model = candidate.model
        evaluation = self.store.start_evaluation(round_id, model.id, prepared.identity)
        if evaluation.finished:
            return self._score_of(evaluation), not _cut_by_deadline(evaluation)

        def record(task_id: str, score: float, details: dict[str, Any] | None) -> None:
            self.store.record_task_result(evaluation.id, task_id, score, details)
            self.beat()

        try:
            request = job.request(record, self.stop_event, done=self.store.read.recorded_tasks(evaluation))
            # the model's own budget from now, or the round's deadline if that comes first (on this clock)
            own_end = self.clock() + self.config.model_time_budget_s
            request = replace(request, deadline=min(own_end, deadline))
            outcome = evaluate(prepared, request)
        except Stopped:
            raise
        except Exception as exc:  # a stage failure, or a harness bug on one model: recorded; the round goes on
            failure = Failure.of(exc, "evaluate")
            if not isinstance(exc, StageFailure):
                log.exception("evaluation error", model=model.repo)
            self.store.fail_evaluation(evaluation.id, failure.failure_class, failure.message, stage=failure.stage)
            log.info("evaluation failed", model=model.repo, failure=failure.failure_class)
            return self._failed_score(), True
        if outcome.details.get("budget_exceeded") and deadline < own_end:
            # the round's budget ran out, not the model's: its tasks so far were this round's, and comparisons
            # need every model of a round on the whole task set, so the evaluation is discarded and the model
            # carried (the schedule takes it up next round, on that round's tasks)
            message = "the round's deadline came before the evaluation's end: carried to the next round"
            self.store.fail_evaluation(evaluation.id, DEADLINE_CLASS, message, stage="schedule")
            log.info("evaluation cut by the round's deadline", model=model.repo)
            return None, False
        if outcome.details.get("budget_exceeded"):
            self.store.record_failure(
                round_id, f"model:{model.id}", "evaluate", "time-budget", "unanswered tasks scored 0"
            )
        self.store.finish_evaluation(evaluation.id, outcome.score, outcome.details)
        log.info("evaluated", model=model.repo, score=round(outcome.score, 4))
        return outcome.score, True

    # -- weights ----------------------------------------------------------------------------------------------

    def round_weights(self, round_id: int, entries: list[RoundEntry]) -> RoundWeights:
        """Copies, comparisons, moving scores and standings, and weights by `scoring.aggregate` (the tested pure
        functions), from this round's per-task scores in the store; the moving scores and standings are recorded
        once per round, so a resumed round computes the same weights again. Each later model that an earlier one
        covers (it earns nothing under `winrate`) gets a `weights/covered` note saying why."""
        scoring = self.settings.scoring
        models = self.store.read.round_models(round_id)
        entries = [replace(e, competition=self._competition(models, e)) for e in entries]
        by_identity = self.store.read.round_task_scores(round_id)
        tasks = {e.key: by_identity.get(e.identity, {}) for e in entries if e.key is not None and e.identity}
        result = round_weights(
            entries,
            self.store.read.moving_scores_before(round_id),
            owners=self.store.read.identity_owners(),
            alpha=scoring.ema_alpha,
            prior=scoring.new_model_prior,
            method=scoring.weights_method,
            temperature=scoring.softmax_temperature,
            fallback=scoring.weights_fallback,
            burn_uid=scoring.burn_uid,
            tasks=tasks,
            previous_standing=self.store.read.moving_standings_before(round_id),
            margin=scoring.copy_margin,
            level=scoring.copy_level,
        )
        self.store.record_moving_scores(round_id, result.moving)
        self.store.record_moving_standings(round_id, result.standing)
        if scoring.weights_method == "winrate":
            self._note_covered(round_id, entries, result, models)
        return result

    def _competition(self, models: dict[tuple[str, int], tuple[int, str | None]], entry: RoundEntry) -> str:
        """The competition an entry's commitment entered (as `competition_of` decides it for the evaluation)."""
        named = models.get((entry.hotkey, entry.block), (0, None))[1]
        return named or self.config.default_competition

    def _note_covered(
        self,
        round_id: int,
        entries: list[RoundEntry],
        result: RoundWeights,
        models: dict[tuple[str, int], tuple[int, str | None]],
    ) -> None:
        """A covered model earns nothing this round: say so in the round's failures (report, /status)."""
        for entry in entries:
            standing = result.standings.get(entry.key) if entry.key is not None else None
            judged = models.get((entry.hotkey, entry.block))
            if standing is None or standing.covered_by is None or judged is None:
                continue
            reason = standing.covered_by.describe()
            self.store.record_failure(round_id, f"model:{judged[0]}", "weights", "covered", reason)

    def _set_weights(self, round_id: int, entries: list[RoundEntry]) -> None:
        if self.store.read.weights_for(round_id) is not None:
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
        except ChainError as exc:  # rate-limited, timed out after retries, refused: recorded; next round tries
            self.store.record_failure(round_id, "round", "weights", exc.failure_class, str(exc))
            log.warning("set_weights failed", failure=exc.failure_class, error=str(exc))
            return
        self.store.record_weights(
            round_id,
            uids,
            values,
            block=receipt.block,
            receipt={"message": receipt.message, "mode": mode},
            reveal_round=receipt.reveal_round,
        )
        log.info("weights set", round=round_id, mode=mode, uids=uids, weights=[round(v, 4) for v in values])
