"""The validator's state: one SQLite database (WAL) that lets a killed supervisor resume where it stopped.

Every step is written in one transaction and keyed by its natural key (a task result by (evaluation, task id),
an evaluation by (round, content hash), a verdict by (round, model), weights by round, a failure by (round,
subject, stage)). Writing a step that is already recorded changes nothing: the first write wins, so a step
redone after a crash can never duplicate or overwrite finished work. A step is finished exactly when its
transaction committed; anything a SIGKILL interrupted was rolled back by SQLite and is simply redone.

`Store` is the writer; every read is the read model, `store.read` (`harness.state.queries.StateReadModel`).
Timestamps are wall-clock seconds (time.time()). JSON columns hold details for reports.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from harness.state.db import Database, StoreError
from harness.state.queries import StateReadModel
from harness.state.records import MODEL_COLUMNS, Evaluation, ModelRecord, Round, to_json
from scoring.aggregate import Claim, earliest_claim

__all__ = ["Evaluation", "ModelRecord", "Round", "Store", "StoreError"]


class Store:
    """The state database's writer (one transaction per supervisor step), with its read model as `read`.
    Safe to share between threads of one process."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0, readonly: bool = False) -> None:
        """Open (and create or migrate) the database; `readonly` opens an existing one for reports only (then
        only `read` is of use: every write fails)."""
        self.db = Database(path, busy_timeout_s=busy_timeout_s, readonly=readonly)
        self.path = self.db.path
        self.readonly = readonly
        self.read = StateReadModel(self.db)

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Raw SQL, for tests that look under the hood."""
        return self.db.query(sql, params)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.db.schema_version

    def integrity_check(self) -> list[str]:
        return self.db.integrity_check()

    # -- rounds -----------------------------------------------------------------------------------------------

    def begin_round(self, block: int | None = None, block_hash: str | None = None) -> Round:
        """The round in progress if one is (a restart resumes it), else a new one."""
        with self.db.transaction() as db:
            row = db.execute("SELECT id FROM rounds WHERE status='running'").fetchone()
            if row is None:
                cursor = db.execute(
                    "INSERT INTO rounds (status, block, block_hash, started_at) VALUES ('running', ?, ?, ?)",
                    (block, block_hash, time.time()),
                )
                round_id = int(cursor.lastrowid or 0)
            else:
                round_id = int(row[0])
        return self.read.get_round(round_id)  # type: ignore[return-value]

    def finish_round(self, round_id: int, status: str = "done", note: str | None = None) -> None:
        """Close a round (`done` or `failed`); closing a closed round changes nothing."""
        if status not in ("done", "failed"):
            raise StoreError(f"a round finishes as done or failed, not {status!r}")
        with self.db.transaction() as db:
            db.execute(
                "UPDATE rounds SET status=?, finished_at=?, note=? WHERE id=? AND status='running'",
                (status, time.time(), note, round_id),
            )

    # -- models and verdicts ----------------------------------------------------------------------------------

    def record_model(
        self,
        *,
        hotkey: str,
        repo: str,
        revision: str,
        content_hash: str,
        commit_block: int,
        uid: int | None = None,
        competition: str | None = None,
        round_id: int | None = None,
    ) -> ModelRecord:
        """A committed model as first seen; the same commitment seen again returns the same record."""
        key = (hotkey, repo, revision, content_hash, commit_block)
        with self.db.transaction() as db:
            db.execute(
                """INSERT OR IGNORE INTO models (hotkey, uid, repo, revision, content_hash, competition,
                   commit_block, first_seen_round, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (hotkey, uid, repo, revision, content_hash, competition, commit_block, round_id, time.time()),
            )
            row = db.execute(
                f"""SELECT {MODEL_COLUMNS} FROM models
                   WHERE hotkey=? AND repo=? AND revision=? AND content_hash=? AND commit_block=?""",
                key,
            ).fetchone()
        return ModelRecord(*row)

    def record_verdict(
        self, round_id: int, model_id: int, allowed: bool, violations: list[dict[str, Any]] | None = None
    ) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO verdicts VALUES (?, ?, ?, ?, ?)",
                (round_id, model_id, int(allowed), to_json(violations or []), time.time()),
            )

    def record_model_identity(self, model_id: int, identity: str) -> None:
        """The content identity the fetch computed for a committed model (the same commitment never changes it)."""
        with self.db.transaction() as db:
            db.execute("INSERT OR IGNORE INTO model_identities VALUES (?, ?)", (model_id, identity))

    def record_model_sketch(self, model_id: int, version: int, sketch: bytes) -> None:
        """A fetched model's weight sketch (`harness.models.sketch`); the same commitment keeps its first one."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO model_sketches VALUES (?, ?, ?, ?)", (model_id, version, sketch, time.time())
            )

    def claim_identity(self, identity: str, claim: Claim, round_id: int | None) -> Claim:
        """Offer `claim` on a content identity and return the owner afterwards: the earliest claim ever offered
        (`scoring.aggregate.earliest_claim`, the one rule), decided and written in one transaction so that
        concurrent claims from several slots end with the same owner whatever order they arrive in."""
        with self.db.transaction() as db:
            row = db.execute("SELECT block, uid, hotkey FROM identity_owners WHERE identity=?", (identity,)).fetchone()
            known = Claim(int(row[0]), int(row[1]), str(row[2])) if row else None
            owner = earliest_claim(known, claim)
            if owner != known:
                db.execute(
                    "INSERT OR REPLACE INTO identity_owners VALUES (?, ?, ?, ?, ?, ?)",
                    (identity, owner.hotkey, owner.uid, owner.block, round_id, time.time()),
                )
        return owner

    # -- evaluations and task results -------------------------------------------------------------------------

    def start_evaluation(self, round_id: int, model_id: int, content_hash: str) -> Evaluation:
        """The evaluation of this content in this round, created if new; check `.finished` before redoing it."""
        with self.db.transaction() as db:
            db.execute(
                """INSERT OR IGNORE INTO evaluations (round_id, model_id, content_hash, status, started_at)
                   VALUES (?, ?, ?, 'running', ?)""",
                (round_id, model_id, content_hash, time.time()),
            )
            row = db.execute(
                "SELECT id FROM evaluations WHERE round_id=? AND content_hash=?", (round_id, content_hash)
            ).fetchone()
        return self.read.get_evaluation(int(row[0]))  # type: ignore[return-value]

    def record_task_result(
        self, evaluation_id: int, task_id: str, score: float, details: dict[str, Any] | None = None
    ) -> bool:
        """Store one task's score; returns False when it was already recorded (nothing changes then)."""
        with self.db.transaction() as db:
            status = db.execute("SELECT status FROM evaluations WHERE id=?", (evaluation_id,)).fetchone()
            if status is None:
                raise StoreError(f"no evaluation {evaluation_id}")
            cursor = db.execute(
                "INSERT OR IGNORE INTO task_results VALUES (?, ?, ?, ?, ?)",
                (evaluation_id, task_id, float(score), to_json(details) if details is not None else None, time.time()),
            )
            return cursor.rowcount == 1

    def finish_evaluation(self, evaluation_id: int, score: float, details: dict[str, Any] | None = None) -> None:
        """Mark an evaluation done with its score; a finished evaluation is never changed."""
        with self.db.transaction() as db:
            db.execute(
                "UPDATE evaluations SET status='done', score=?, details=?, finished_at=? "
                "WHERE id=? AND status='running'",
                (float(score), to_json(details or {}), time.time(), evaluation_id),
            )

    def fail_evaluation(self, evaluation_id: int, failure_class: str, reason: str, *, stage: str = "evaluate") -> None:
        """Mark an evaluation failed and record the failure against its model, in one step."""
        with self.db.transaction() as db:
            row = db.execute("SELECT round_id, model_id FROM evaluations WHERE id=?", (evaluation_id,)).fetchone()
            if row is None:
                raise StoreError(f"no evaluation {evaluation_id}")
            cursor = db.execute(
                """UPDATE evaluations SET status='failed', details=?, finished_at=? WHERE id=? AND status='running'""",
                (to_json({"class": failure_class, "reason": reason}), time.time(), evaluation_id),
            )
            if cursor.rowcount == 1:  # a finished evaluation stays as it was, and gains no failure
                _insert_failure(db, int(row[0]), f"model:{row[1]}", stage, failure_class, reason)

    # -- moving scores, weights, failures ---------------------------------------------------------------------

    def record_moving_scores(self, round_id: int, values: dict[tuple[str, str], float]) -> bool:
        """Every model's moving score after a round, in one step; False when the round already has them."""
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM moving_scores WHERE round_id=? LIMIT 1", (round_id,)).fetchone():
                return False
            db.executemany(
                "INSERT INTO moving_scores VALUES (?, ?, ?, ?)",
                [(round_id, hotkey, identity, float(v)) for (hotkey, identity), v in sorted(values.items())],
            )
            return True

    def record_moving_standings(self, round_id: int, values: dict[tuple[str, str], float]) -> bool:
        """Every model's moving standing after a round (`scoring.aggregate.RoundWeights.standing`), in one step;
        False when the round already has them (a resumed round recomputes the same values from the same inputs)."""
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM moving_standings WHERE round_id=? LIMIT 1", (round_id,)).fetchone():
                return False
            db.executemany(
                "INSERT INTO moving_standings VALUES (?, ?, ?, ?)",
                [(round_id, hotkey, identity, float(v)) for (hotkey, identity), v in sorted(values.items())],
            )
            return True

    def record_weights(
        self,
        round_id: int,
        uids: list[int],
        weights: list[float],
        *,
        block: int | None = None,
        receipt: dict[str, Any] | None = None,
        reveal_round: int | None = None,
    ) -> None:
        """The weights a round set; under commit-reveal `block` is the commit's and `reveal_round` its drand round
        (the chain's later answer is `record_reveal`'s)."""
        with self.db.transaction() as db:
            db.execute(
                """INSERT OR IGNORE INTO weights_set (round_id, block, uids, weights, receipt, set_at, reveal_round)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    round_id,
                    block,
                    to_json(list(uids)),
                    to_json(list(weights)),
                    to_json(receipt),
                    time.time(),
                    reveal_round,
                ),
            )

    def record_reveal(
        self, round_id: int, state: str, revealed_block: int | None, detail: str, checked_block: int
    ) -> None:
        """What the chain said about a round's weights commit at `checked_block` (`harness.state.reveals`). Only a
        commit still pending changes: once revealed or dropped, the answer stands."""
        with self.db.transaction() as db:
            db.execute(
                """UPDATE weights_set SET reveal_state=?, revealed_block=?, reveal_detail=?, reveal_checked_block=?,
                          reveal_checked_at=?
                   WHERE round_id=? AND reveal_round IS NOT NULL AND COALESCE(reveal_state, 'pending') = 'pending'""",
                (state, revealed_block, detail or None, checked_block, time.time(), round_id),
            )

    def record_activity(self, block: int, last_update: int, activity_cutoff: int, warning: str | None) -> None:
        """The latest reading of our LastUpdate against the subnet's activity cutoff (one row, replaced)."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO validator_activity VALUES (1, ?, ?, ?, ?, ?)",
                (block, last_update, activity_cutoff, warning, time.time()),
            )

    def record_round_schedule(self, round_id: int, epoch: int, planned: int, budget_s: float | None) -> None:
        """A round's place in the schedule (`harness.round.schedule`): its epoch, the commitments it planned and
        its evaluation budget (None: unbounded); a resumed round keeps the first record."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO round_schedules VALUES (?, ?, ?, ?, ?)",
                (round_id, epoch, planned, budget_s, time.time()),
            )

    def record_visit(self, round_id: int, model_id: int, epoch: int, outcome: str) -> None:
        """A model's visit concluded in a round (`evaluated`, `rejected`, `copy`, `unprepared`): what the schedule
        reads to know which models are new and which are stale. A model the round did not reach has none."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO schedule_visits VALUES (?, ?, ?, ?, ?)",
                (round_id, model_id, epoch, outcome, time.time()),
            )

    def record_failure(self, round_id: int, subject: str, stage: str, failure_class: str, reason: str) -> None:
        """A failure with its class (e.g. `policy`, `fetch`, `timeout`, `commitment`) and a readable reason.

        `subject` says what failed: `model:ID`, `hotkey:HK`, or `round`. One failure per (round, subject, stage).
        """
        with self.db.transaction() as db:
            _insert_failure(db, round_id, subject, stage, failure_class, reason)


def _insert_failure(
    db: sqlite3.Connection, round_id: int, subject: str, stage: str, failure_class: str, reason: str
) -> None:
    db.execute(
        """INSERT OR IGNORE INTO failures (round_id, subject, stage, class, reason, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (round_id, subject, stage, failure_class, reason, time.time()),
    )
