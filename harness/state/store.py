"""The validator's state: one SQLite database (WAL) that lets a killed supervisor resume where it stopped.

Every step is written in one transaction and keyed by its natural key (a task result by (evaluation, task id),
an evaluation by (round, content hash), a verdict by (round, model), weights by round, a failure by (round,
subject, stage)). Writing a step that is already recorded changes nothing: the first write wins, so a step
redone after a crash can never duplicate or overwrite finished work. A step is finished exactly when its
transaction committed; anything a SIGKILL interrupted was rolled back by SQLite and is simply redone.

Timestamps are wall-clock seconds (time.time()). JSON columns hold details for reports.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.state.queries import StateReadModel, StoreError
from harness.state.schema import MIGRATIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class Round:
    id: int
    status: str
    block: int | None
    block_hash: str | None
    started_at: float
    finished_at: float | None
    note: str | None = None


@dataclass(frozen=True)
class ModelRecord:
    id: int
    hotkey: str
    uid: int | None
    repo: str
    revision: str
    content_hash: str
    competition: str | None
    commit_block: int


@dataclass(frozen=True)
class Evaluation:
    id: int
    round_id: int
    model_id: int
    content_hash: str
    status: str
    score: float | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


class Store(StateReadModel):
    """The state database: the supervisor's writer (one transaction per step) and the keyed lookups a round
    needs; what `harness status` and reports read is the read model (`harness.state.queries.StateReadModel`).
    Safe to share between threads of one process."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0, readonly: bool = False) -> None:
        """Open (and create or migrate) the database; `readonly` opens an existing one for reports only.

        A read-only store never creates, migrates or locks anything, so `harness status` can look at a live
        validator's database (even one it may not write) without disturbing it.
        """
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no state database at {self.path}")
                if not self.path.is_file():
                    raise StoreError(f"state database {self.path} is not a file")
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
                self._check_readable_schema()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process crashes
                self._db.execute("PRAGMA foreign_keys=ON")
                self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"state database {self.path}: {exc}") from exc

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"state database {self.path} has schema version {version}; this harness knows up to "
                        f"{SCHEMA_VERSION} (upgrade the harness)"
                    )
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[number - 1]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _check_readable_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            raise StoreError(f"{self.path} is not a harness state database (no schema)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"state database {self.path} has schema version {version}; this harness knows up to "
                f"{SCHEMA_VERSION} (upgrade the harness)"
            )
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"state database {self.path} has the older schema version {version}; start the validator "
                f"once to migrate it to {SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the database, even while the supervisor writes."""
        with self._lock:
            if self._db.in_transaction:  # already inside a snapshot or a step
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One step = one transaction; BEGIN IMMEDIATE so concurrent writers queue instead of failing late."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        """SQLite's integrity check plus foreign keys; `["ok"]` when the database is sound."""
        problems = [row[0] for row in self._query("PRAGMA integrity_check")]
        problems += [f"foreign key: {row}" for row in self._query("PRAGMA foreign_key_check")]
        return problems

    # -- rounds -----------------------------------------------------------------------------------------------

    def begin_round(self, block: int | None = None, block_hash: str | None = None) -> Round:
        """The round in progress if one is (a restart resumes it), else a new one."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM rounds WHERE status='running'").fetchone()
            if row is None:
                cursor = db.execute(
                    "INSERT INTO rounds (status, block, block_hash, started_at) VALUES ('running', ?, ?, ?)",
                    (block, block_hash, time.time()),
                )
                round_id = int(cursor.lastrowid or 0)
            else:
                round_id = int(row[0])
        return self.get_round(round_id)  # type: ignore[return-value]

    def current_round(self) -> Round | None:
        rows = self._query("SELECT id FROM rounds WHERE status='running'")
        return self.get_round(int(rows[0][0])) if rows else None

    def get_round(self, round_id: int) -> Round | None:
        rows = self._query(
            "SELECT id, status, block, block_hash, started_at, finished_at, note FROM rounds WHERE id=?", (round_id,)
        )
        return Round(*rows[0]) if rows else None

    def last_finished_round(self) -> Round | None:
        rows = self._query("SELECT id FROM rounds WHERE status != 'running' ORDER BY id DESC LIMIT 1")
        return self.get_round(int(rows[0][0])) if rows else None

    def finish_round(self, round_id: int, status: str = "done", note: str | None = None) -> None:
        """Close a round (`done` or `failed`); closing a closed round changes nothing."""
        if status not in ("done", "failed"):
            raise StoreError(f"a round finishes as done or failed, not {status!r}")
        with self._tx() as db:
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
        with self._tx() as db:
            db.execute(
                """INSERT OR IGNORE INTO models (hotkey, uid, repo, revision, content_hash, competition,
                   commit_block, first_seen_round, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (hotkey, uid, repo, revision, content_hash, competition, commit_block, round_id, time.time()),
            )
            row = db.execute(
                """SELECT id, hotkey, uid, repo, revision, content_hash, competition, commit_block FROM models
                   WHERE hotkey=? AND repo=? AND revision=? AND content_hash=? AND commit_block=?""",
                key,
            ).fetchone()
        return ModelRecord(*row)

    def get_model(self, model_id: int) -> ModelRecord | None:
        rows = self._query(
            """SELECT id, hotkey, uid, repo, revision, content_hash, competition, commit_block
               FROM models WHERE id=?""",
            (model_id,),
        )
        return ModelRecord(*rows[0]) if rows else None

    def record_verdict(
        self, round_id: int, model_id: int, allowed: bool, violations: list[dict[str, Any]] | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO verdicts VALUES (?, ?, ?, ?, ?)",
                (round_id, model_id, int(allowed), _json(violations or []), time.time()),
            )

    def verdict(self, round_id: int, model_id: int) -> tuple[bool, list[dict[str, Any]]] | None:
        rows = self._query(
            "SELECT allowed, violations FROM verdicts WHERE round_id=? AND model_id=?", (round_id, model_id)
        )
        return (bool(rows[0][0]), _loads(rows[0][1])) if rows else None

    # -- evaluations and task results -------------------------------------------------------------------------

    def start_evaluation(self, round_id: int, model_id: int, content_hash: str) -> Evaluation:
        """The evaluation of this content in this round, created if new; check `.finished` before redoing it."""
        with self._tx() as db:
            db.execute(
                """INSERT OR IGNORE INTO evaluations (round_id, model_id, content_hash, status, started_at)
                   VALUES (?, ?, ?, 'running', ?)""",
                (round_id, model_id, content_hash, time.time()),
            )
            row = db.execute(
                "SELECT id FROM evaluations WHERE round_id=? AND content_hash=?", (round_id, content_hash)
            ).fetchone()
        return self.get_evaluation(int(row[0]))  # type: ignore[return-value]

    def get_evaluation(self, evaluation_id: int) -> Evaluation | None:
        rows = self._query(
            "SELECT id, round_id, model_id, content_hash, status, score, details FROM evaluations WHERE id=?",
            (evaluation_id,),
        )
        if not rows:
            return None
        *head, details = rows[0]
        return Evaluation(*head, details=_loads(details) or {})

    def evaluations(self, round_id: int) -> list[Evaluation]:
        rows = self._query("SELECT id FROM evaluations WHERE round_id=? ORDER BY id", (round_id,))
        return [self.get_evaluation(int(r[0])) for r in rows]  # type: ignore[misc]

    def evaluation_for(self, round_id: int, content_hash: str) -> Evaluation | None:
        rows = self._query("SELECT id FROM evaluations WHERE round_id=? AND content_hash=?", (round_id, content_hash))
        return self.get_evaluation(int(rows[0][0])) if rows else None

    def unfinished_evaluations(self, round_id: int) -> list[Evaluation]:
        """Evaluations a crash interrupted: started, neither done nor failed (resume these first)."""
        return [e for e in self.evaluations(round_id) if not e.finished]

    def record_task_result(
        self, evaluation_id: int, task_id: str, score: float, details: dict[str, Any] | None = None
    ) -> bool:
        """Store one task's score; returns False when it was already recorded (nothing changes then)."""
        with self._tx() as db:
            status = db.execute("SELECT status FROM evaluations WHERE id=?", (evaluation_id,)).fetchone()
            if status is None:
                raise StoreError(f"no evaluation {evaluation_id}")
            cursor = db.execute(
                "INSERT OR IGNORE INTO task_results VALUES (?, ?, ?, ?, ?)",
                (evaluation_id, task_id, float(score), _json(details) if details is not None else None, time.time()),
            )
            return cursor.rowcount == 1

    def done_tasks(self, evaluation_id: int) -> set[str]:
        return {r[0] for r in self._query("SELECT task_id FROM task_results WHERE evaluation_id=?", (evaluation_id,))}

    def task_results(self, evaluation_id: int) -> dict[str, tuple[float, dict[str, Any] | None]]:
        rows = self._query(
            "SELECT task_id, score, details FROM task_results WHERE evaluation_id=? ORDER BY task_id",
            (evaluation_id,),
        )
        return {task: (score, _loads(details)) for task, score, details in rows}

    def finish_evaluation(self, evaluation_id: int, score: float, details: dict[str, Any] | None = None) -> None:
        """Mark an evaluation done with its score; a finished evaluation is never changed."""
        with self._tx() as db:
            db.execute(
                "UPDATE evaluations SET status='done', score=?, details=?, finished_at=? "
                "WHERE id=? AND status='running'",
                (float(score), _json(details or {}), time.time(), evaluation_id),
            )

    def fail_evaluation(self, evaluation_id: int, failure_class: str, reason: str, *, stage: str = "evaluate") -> None:
        """Mark an evaluation failed and record the failure against its model, in one step."""
        with self._tx() as db:
            row = db.execute("SELECT round_id, model_id FROM evaluations WHERE id=?", (evaluation_id,)).fetchone()
            if row is None:
                raise StoreError(f"no evaluation {evaluation_id}")
            cursor = db.execute(
                """UPDATE evaluations SET status='failed', details=?, finished_at=? WHERE id=? AND status='running'""",
                (_json({"class": failure_class, "reason": reason}), time.time(), evaluation_id),
            )
            if cursor.rowcount == 1:  # a finished evaluation stays as it was, and gains no failure
                self._insert_failure(db, int(row[0]), f"model:{row[1]}", stage, failure_class, reason)

    def evaluation_of(self, round_id: int, model_id: int) -> Evaluation | None:
        """The evaluation of one model in one round (an indexed lookup, not a scan of the round)."""
        rows = self._query(
            "SELECT id FROM evaluations WHERE round_id=? AND model_id=? ORDER BY id LIMIT 1", (round_id, model_id)
        )
        return self.get_evaluation(int(rows[0][0])) if rows else None

    # -- content identities and moving scores -----------------------------------------------------------------

    def record_model_identity(self, model_id: int, identity: str) -> None:
        """The content identity the fetch computed for a committed model (the same commitment never changes it)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO model_identities VALUES (?, ?)", (model_id, identity))

    def model_identity(self, model_id: int) -> str | None:
        rows = self._query("SELECT identity FROM model_identities WHERE model_id=?", (model_id,))
        return str(rows[0][0]) if rows else None

    def identity_owner(self, identity: str) -> tuple[int, int, str] | None:
        """(commit block, uid, hotkey) of the earliest commitment seen with this content, or None if never seen."""
        rows = self._query("SELECT block, uid, hotkey FROM identity_owners WHERE identity=?", (identity,))
        return (int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def identity_owners(self) -> dict[str, tuple[int, int, str]]:
        rows = self._query("SELECT identity, block, uid, hotkey FROM identity_owners")
        return {str(i): (int(b), int(u), str(h)) for i, b, u, h in rows}

    def set_identity_owner(self, identity: str, block: int, uid: int, hotkey: str, round_id: int | None) -> None:
        """Record who owns a content identity; the caller decides (earliest claim) and only ever moves it earlier."""
        with self._tx() as db:
            db.execute(
                """INSERT INTO identity_owners VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(identity) DO UPDATE SET
                   hotkey=excluded.hotkey, uid=excluded.uid, block=excluded.block, round_id=excluded.round_id,
                   recorded_at=excluded.recorded_at
                   WHERE excluded.block < identity_owners.block
                      OR (excluded.block = identity_owners.block AND excluded.uid < identity_owners.uid)""",
                (identity, hotkey, uid, block, round_id, time.time()),
            )

    def record_moving_scores(self, round_id: int, values: dict[tuple[str, str], float]) -> bool:
        """Every model's moving score after a round, in one step; False when the round already has them."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM moving_scores WHERE round_id=? LIMIT 1", (round_id,)).fetchone():
                return False
            db.executemany(
                "INSERT INTO moving_scores VALUES (?, ?, ?, ?)",
                [(round_id, hotkey, identity, float(v)) for (hotkey, identity), v in sorted(values.items())],
            )
            return True

    def moving_scores(self, round_id: int) -> dict[tuple[str, str], float] | None:
        """The moving scores recorded after `round_id`, or None when that round recorded none."""
        rows = self._query("SELECT hotkey, identity, value FROM moving_scores WHERE round_id=?", (round_id,))
        return {(str(h), str(i)): float(v) for h, i, v in rows} if rows else None

    def moving_scores_before(self, round_id: int) -> dict[tuple[str, str], float]:
        """The moving scores the latest earlier round left (empty before the first)."""
        rows = self._query("SELECT MAX(round_id) FROM moving_scores WHERE round_id < ?", (round_id,))
        if rows[0][0] is None:
            return {}
        return self.moving_scores(int(rows[0][0])) or {}

    # -- weights and failures ---------------------------------------------------------------------------------

    def record_weights(
        self,
        round_id: int,
        uids: list[int],
        weights: list[float],
        *,
        block: int | None = None,
        receipt: dict[str, Any] | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO weights_set VALUES (?, ?, ?, ?, ?, ?)",
                (round_id, block, _json(list(uids)), _json(list(weights)), _json(receipt), time.time()),
            )

    def weights_for(self, round_id: int) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT round_id, block, uids, weights, receipt, set_at FROM weights_set WHERE round_id=?", (round_id,)
        )
        return _weights_row(rows[0]) if rows else None

    def last_weights(self) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT round_id, block, uids, weights, receipt, set_at FROM weights_set ORDER BY set_at DESC LIMIT 1"
        )
        return _weights_row(rows[0]) if rows else None

    @staticmethod
    def _insert_failure(
        db: sqlite3.Connection, round_id: int, subject: str, stage: str, failure_class: str, reason: str
    ) -> None:
        db.execute(
            """INSERT OR IGNORE INTO failures (round_id, subject, stage, class, reason, recorded_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (round_id, subject, stage, failure_class, reason, time.time()),
        )

    def record_failure(self, round_id: int, subject: str, stage: str, failure_class: str, reason: str) -> None:
        """A failure with its class (e.g. `policy`, `fetch`, `timeout`, `commitment`) and a readable reason.

        `subject` says what failed: `model:ID`, `hotkey:HK`, or `round`. One failure per (round, subject, stage).
        """
        with self._tx() as db:
            self._insert_failure(db, round_id, subject, stage, failure_class, reason)

    def failures(self, round_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT subject, stage, class, reason, recorded_at FROM failures WHERE round_id=? ORDER BY id",
            (round_id,),
        )
        return [dict(zip(("subject", "stage", "class", "reason", "recorded_at"), r, strict=True)) for r in rows]


def _weights_row(row: tuple[Any, ...]) -> dict[str, Any]:
    round_id, block, uids, weights, receipt, set_at = row
    return {
        "round": round_id,
        "block": block,
        "uids": _loads(uids),
        "weights": _loads(weights),
        "receipt": _loads(receipt),
        "set_at": set_at,
    }


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3 runs one per execute; executescript would commit early)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
