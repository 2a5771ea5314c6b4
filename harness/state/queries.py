"""The read model of the state database: every read, from a round's keyed lookups to status and reports.

Kept apart from the writer (`harness.state.store.Store`, one transaction per supervisor step) so that what
changes the database and what only looks at it are two classes: `harness status`, the status endpoint and
round reports need nothing but this, and reports are planned as reads: a fixed number of joined queries,
whatever the number of models, instead of a lookup per row. It runs on the writer's connection
(`store.read`) or on a database opened read-only.
"""

from __future__ import annotations

from typing import Any

from harness.state.db import Database, StoreError
from harness.state.records import (
    MODEL_COLUMNS,
    WEIGHTS_COLUMNS,
    Evaluation,
    ModelRecord,
    Round,
    from_json,
    weights_row,
)
from harness.state.reveals import activity_view
from scoring.aggregate import Claim

TaskResults = dict[str, tuple[float, dict[str, Any] | None]]
NO_UID = 1 << 30  # a model without a uid sorts after every real one (as `harness.round.supervisor.NO_UID`)


class StateReadModel:
    """Reads of the state database (never a write)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def schema_version(self) -> int:
        return self.db.schema_version

    # -- rounds -----------------------------------------------------------------------------------------------

    def get_round(self, round_id: int) -> Round | None:
        rows = self.db.query(
            "SELECT id, status, block, block_hash, started_at, finished_at, note FROM rounds WHERE id=?", (round_id,)
        )
        return Round(*rows[0]) if rows else None

    def current_round(self) -> Round | None:
        rows = self.db.query("SELECT id FROM rounds WHERE status='running'")
        return self.get_round(int(rows[0][0])) if rows else None

    def last_finished_round(self) -> Round | None:
        rows = self.db.query("SELECT id FROM rounds WHERE status != 'running' ORDER BY id DESC LIMIT 1")
        return self.get_round(int(rows[0][0])) if rows else None

    def latest_round(self) -> Round | None:
        """The most recent round, running or finished."""
        rows = self.db.query("SELECT MAX(id) FROM rounds")
        return self.get_round(int(rows[0][0])) if rows[0][0] is not None else None

    # -- models and verdicts ----------------------------------------------------------------------------------

    def get_model(self, model_id: int) -> ModelRecord | None:
        rows = self.db.query(f"SELECT {MODEL_COLUMNS} FROM models WHERE id=?", (model_id,))
        return ModelRecord(*rows[0]) if rows else None

    def verdict(self, round_id: int, model_id: int) -> tuple[bool, list[dict[str, Any]]] | None:
        rows = self.db.query(
            "SELECT allowed, violations FROM verdicts WHERE round_id=? AND model_id=?", (round_id, model_id)
        )
        return (bool(rows[0][0]), from_json(rows[0][1])) if rows else None

    def model_identity(self, model_id: int) -> str | None:
        rows = self.db.query("SELECT identity FROM model_identities WHERE model_id=?", (model_id,))
        return str(rows[0][0]) if rows else None

    def earlier_sketches(self, block: int, uid: int, hotkey: str, version: int) -> list[tuple[ModelRecord, bytes]]:
        """Stored sketches (of `version`) of models committed before (block, uid) by another hotkey, in commit
        order: what a new model is compared with for the near-copy signal. A model without a uid sorts last,
        as in the round's order (`harness.round.supervisor.NO_UID`)."""
        rows = self.db.query(
            f"""SELECT {", ".join("m." + c.strip() for c in MODEL_COLUMNS.split(","))}, s.sketch
               FROM model_sketches s JOIN models m ON m.id = s.model_id
               WHERE s.version = ? AND m.hotkey != ?
                 AND (m.commit_block < ? OR (m.commit_block = ? AND COALESCE(m.uid, ?) < ?))
               ORDER BY m.commit_block, COALESCE(m.uid, ?), m.id""",
            (version, hotkey, block, block, NO_UID, uid, NO_UID),
        )
        return [(ModelRecord(*row[:-1]), bytes(row[-1])) for row in rows]

    def identity_owner(self, identity: str) -> Claim | None:
        """The earliest commitment seen with this content (it owns it for good), or None if never seen."""
        rows = self.db.query("SELECT block, uid, hotkey FROM identity_owners WHERE identity=?", (identity,))
        return Claim(int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def identity_owners(self) -> dict[str, Claim]:
        rows = self.db.query("SELECT identity, block, uid, hotkey FROM identity_owners")
        return {str(i): Claim(int(b), int(u), str(h)) for i, b, u, h in rows}

    # -- evaluations and task results -------------------------------------------------------------------------

    def get_evaluation(self, evaluation_id: int) -> Evaluation | None:
        rows = self.db.query(
            "SELECT id, round_id, model_id, content_hash, status, score, details FROM evaluations WHERE id=?",
            (evaluation_id,),
        )
        if not rows:
            return None
        *head, details = rows[0]
        return Evaluation(*head, details=from_json(details) or {})

    def evaluations(self, round_id: int) -> list[Evaluation]:
        rows = self.db.query("SELECT id FROM evaluations WHERE round_id=? ORDER BY id", (round_id,))
        return [self.get_evaluation(int(r[0])) for r in rows]  # type: ignore[misc]

    def evaluation_for(self, round_id: int, content_hash: str) -> Evaluation | None:
        rows = self.db.query("SELECT id FROM evaluations WHERE round_id=? AND content_hash=?", (round_id, content_hash))
        return self.get_evaluation(int(rows[0][0])) if rows else None

    def evaluation_of(self, round_id: int, model_id: int) -> Evaluation | None:
        """The evaluation of one model in one round (an indexed lookup, not a scan of the round)."""
        rows = self.db.query(
            "SELECT id FROM evaluations WHERE round_id=? AND model_id=? ORDER BY id LIMIT 1", (round_id, model_id)
        )
        return self.get_evaluation(int(rows[0][0])) if rows else None

    def unfinished_evaluations(self, round_id: int) -> list[Evaluation]:
        """Evaluations a crash interrupted: started, neither done nor failed (resume these first)."""
        return [e for e in self.evaluations(round_id) if not e.finished]

    def done_tasks(self, evaluation_id: int) -> set[str]:
        return {r[0] for r in self.db.query("SELECT task_id FROM task_results WHERE evaluation_id=?", (evaluation_id,))}

    def task_results(self, evaluation_id: int) -> TaskResults:
        rows = self.db.query(
            "SELECT task_id, score, details FROM task_results WHERE evaluation_id=? ORDER BY task_id",
            (evaluation_id,),
        )
        return {task: (score, from_json(details)) for task, score, details in rows}

    def recorded_tasks(self, evaluation: Evaluation | None) -> dict[str, dict[str, Any]]:
        """What an evaluate stage gets as `done`: each task recorded so far (before a restart), its details with
        its `score`; empty for an evaluation not started."""
        if evaluation is None:
            return {}
        return {
            task: {**(details or {}), "score": score}
            for task, (score, details) in self.task_results(evaluation.id).items()
        }

    # -- moving scores, weights, failures ---------------------------------------------------------------------

    def moving_scores(self, round_id: int) -> dict[tuple[str, str], float] | None:
        """The moving scores recorded after `round_id`, or None when that round recorded none."""
        rows = self.db.query("SELECT hotkey, identity, value FROM moving_scores WHERE round_id=?", (round_id,))
        return {(str(h), str(i)): float(v) for h, i, v in rows} if rows else None

    def moving_scores_before(self, round_id: int) -> dict[tuple[str, str], float]:
        """The moving scores the latest earlier round left (empty before the first)."""
        rows = self.db.query("SELECT MAX(round_id) FROM moving_scores WHERE round_id < ?", (round_id,))
        if rows[0][0] is None:
            return {}
        return self.moving_scores(int(rows[0][0])) or {}

    def moving_standings(self, round_id: int) -> dict[tuple[str, str], float] | None:
        """The moving standings recorded after `round_id`, or None when that round recorded none."""
        rows = self.db.query("SELECT hotkey, identity, value FROM moving_standings WHERE round_id=?", (round_id,))
        return {(str(h), str(i)): float(v) for h, i, v in rows} if rows else None

    def moving_standings_before(self, round_id: int) -> dict[tuple[str, str], float]:
        """The moving standings the latest earlier round left (empty before the first)."""
        rows = self.db.query("SELECT MAX(round_id) FROM moving_standings WHERE round_id < ?", (round_id,))
        if rows[0][0] is None:
            return {}
        return self.moving_standings(int(rows[0][0])) or {}

    def round_task_scores(self, round_id: int) -> dict[str, dict[str, float]]:
        """Per-task scores of the round's finished evaluations, by content identity (an evaluation is one per
        content and round). A failed evaluation is left out: its tasks count 0 in the comparisons."""
        rows = self.db.query(
            """SELECT e.content_hash, t.task_id, t.score FROM evaluations e
               JOIN task_results t ON t.evaluation_id = e.id
               WHERE e.round_id=? AND e.status='done' ORDER BY e.content_hash, t.task_id""",
            (round_id,),
        )
        out: dict[str, dict[str, float]] = {}
        for identity, task, score in rows:
            out.setdefault(str(identity), {})[str(task)] = float(score)
        return out

    def round_models(self, round_id: int) -> dict[tuple[str, int], tuple[int, str | None]]:
        """The models judged in a round (those with a verdict), by (hotkey, commit block): their id and the
        competition their commitment named (None: the validator's default)."""
        rows = self.db.query(
            """SELECT m.hotkey, m.commit_block, m.id, m.competition FROM verdicts v
               JOIN models m ON m.id = v.model_id WHERE v.round_id=? ORDER BY m.id""",
            (round_id,),
        )
        return {(str(h), int(b)): (int(i), c) for h, b, i, c in rows}

    def weights_for(self, round_id: int) -> dict[str, Any] | None:
        rows = self.db.query(f"SELECT {WEIGHTS_COLUMNS} FROM weights_set WHERE round_id=?", (round_id,))
        return weights_row(rows[0]) if rows else None

    def last_weights(self) -> dict[str, Any] | None:
        rows = self.db.query(f"SELECT {WEIGHTS_COLUMNS} FROM weights_set ORDER BY set_at DESC LIMIT 1")
        return weights_row(rows[0]) if rows else None

    def unsettled_weights(self) -> list[tuple[int, int, int]]:
        """(round, commit block, reveal round) of every weights commit not yet seen revealed or dropped."""
        rows = self.db.query(
            """SELECT round_id, block, reveal_round FROM weights_set
               WHERE reveal_round IS NOT NULL AND block IS NOT NULL AND COALESCE(reveal_state, 'pending') = 'pending'
               ORDER BY round_id"""
        )
        return [(int(r), int(b), int(n)) for r, b, n in rows]

    def validator_activity(self) -> dict[str, Any] | None:
        """The latest reading of our LastUpdate against the activity cutoff (`harness.state.reveals`)."""
        rows = self.db.query(
            "SELECT block, last_update, activity_cutoff, warning, checked_at FROM validator_activity WHERE id=1"
        )
        return activity_view(rows[0] if rows else None)

    def failures(self, round_id: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT subject, stage, class, reason, recorded_at FROM failures WHERE round_id=? ORDER BY id",
            (round_id,),
        )
        return [dict(zip(("subject", "stage", "class", "reason", "recorded_at"), r, strict=True)) for r in rows]

    # -- the schedule of budgeted rounds (harness/round/schedule.py) -------------------------------------------

    def hotkey_last_first_visits(self) -> dict[str, int]:
        """Hotkey -> the latest epoch in which one of its commitments had its first visit: a new commitment
        within the cooldown after that waits its turn (`harness.round.schedule`)."""
        rows = self.db.query(
            "SELECT m.hotkey, MAX(f.first_epoch) FROM"
            " (SELECT model_id, MIN(epoch) AS first_epoch FROM schedule_visits GROUP BY model_id) f"
            " JOIN models m ON m.id = f.model_id GROUP BY m.hotkey"
        )
        return {hotkey: int(epoch) for hotkey, epoch in rows}

    def last_visits(self) -> dict[int, int]:
        """Model id -> the latest epoch in which a round concluded its visit (evaluated, or judged without one)."""
        rows = self.db.query("SELECT model_id, MAX(epoch) FROM schedule_visits GROUP BY model_id")
        return {int(m): int(e) for m, e in rows}

    def last_evaluated_epochs(self) -> dict[int, int]:
        """Model id -> the latest epoch in which it was evaluated (the age of its moving score counts from it)."""
        rows = self.db.query(
            "SELECT model_id, MAX(epoch) FROM schedule_visits WHERE outcome='evaluated' GROUP BY model_id"
        )
        return {int(m): int(e) for m, e in rows}

    def round_schedule(self, round_id: int) -> dict[str, Any] | None:
        """A round's epoch, planned commitments, budget, and how many it reached (visits concluded)."""
        rows = self.db.query("SELECT epoch, planned, budget_s FROM round_schedules WHERE round_id=?", (round_id,))
        if not rows:
            return None
        reached = self.db.query("SELECT COUNT(*) FROM schedule_visits WHERE round_id=?", (round_id,))[0][0]
        epoch, planned, budget = rows[0]
        return {"epoch": int(epoch), "planned": int(planned), "reached": int(reached), "budget_s": budget}

    def standing_ages(self) -> list[dict[str, Any]]:
        """Every model's latest moving standing with the epoch it was last evaluated in and its age in epochs
        (the latest round's epoch minus that one; None: never evaluated), highest standing first."""
        latest = self.db.query("SELECT MAX(round_id) FROM moving_standings")[0][0]
        if latest is None:
            return []
        now = self.db.query("SELECT MAX(epoch) FROM round_schedules")[0][0]
        rows = self.db.query(
            """SELECT s.hotkey, s.identity, s.value,
                      (SELECT MAX(v.epoch) FROM schedule_visits v JOIN models m ON m.id = v.model_id
                       JOIN model_identities i ON i.model_id = m.id
                       WHERE v.outcome='evaluated' AND m.hotkey = s.hotkey AND i.identity = s.identity)
               FROM moving_standings s WHERE s.round_id=? ORDER BY s.value DESC, s.hotkey, s.identity""",
            (latest,),
        )
        return [
            {
                "hotkey": h,
                "identity": i,
                "standing": v,
                "last_evaluated_epoch": e,
                "age_epochs": None if e is None or now is None else int(now) - int(e),
            }
            for h, i, v, e in rows
        ]

    # -- status and reports -----------------------------------------------------------------------------------

    def leaderboard(self, round_id: int | None = None) -> list[dict[str, Any]]:
        """Finished evaluations of a round (default: the latest round that has any), best score first."""
        if round_id is None:
            rows = self.db.query("SELECT MAX(round_id) FROM evaluations WHERE status='done'")
            round_id = rows[0][0]
            if round_id is None:
                return []
        rows = self.db.query(
            """SELECT m.hotkey, m.uid, m.repo, m.revision, m.content_hash, m.commit_block, e.score, e.round_id
               FROM evaluations e JOIN models m ON m.id = e.model_id
               WHERE e.round_id=? AND e.status='done' ORDER BY e.score DESC, m.commit_block ASC""",
            (round_id,),
        )
        keys = ("hotkey", "uid", "repo", "revision", "content_hash", "commit_block", "score", "round")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def _failures_with_models(self, round_id: int) -> list[dict[str, Any]]:
        """Failures of a round, each naming its model (`model`: hotkey, uid, repo, revision) when it has one.
        One query: the model is joined by the id in the subject (`model:ID`)."""
        rows = self.db.query(
            """SELECT f.subject, f.stage, f.class, f.reason, f.recorded_at, m.hotkey, m.uid, m.repo, m.revision
               FROM failures f LEFT JOIN models m
                 ON f.subject GLOB 'model:[0-9]*' AND m.id = CAST(substr(f.subject, 7) AS INTEGER)
               WHERE f.round_id=? ORDER BY f.id""",
            (round_id,),
        )
        keys = ("subject", "stage", "class", "reason", "recorded_at")
        described = []
        for row in rows:
            model = None
            if row[5] is not None:
                model = dict(zip(("hotkey", "uid", "repo", "revision"), row[5:], strict=True))
            described.append({"round": round_id, **dict(zip(keys, row[:5], strict=True)), "model": model})
        return described

    def recent_failures(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last `limit` failures of the round in progress, else of the latest round, oldest first."""
        with self.db.snapshot():
            rnd = self.current_round() or self.latest_round()
            return self._failures_with_models(rnd.id)[-limit:] if rnd is not None and limit > 0 else []

    def status(self) -> dict[str, Any]:
        """Round in progress with its progress counts, last finished round, leaderboard and last weights."""
        with self.db.snapshot():
            current = self.current_round()
            in_progress = None
            if current is not None:
                counts = dict(
                    self.db.query(
                        "SELECT status, COUNT(*) FROM evaluations WHERE round_id=? GROUP BY status", (current.id,)
                    )
                )
                verdicts = dict(
                    self.db.query(
                        "SELECT allowed, COUNT(*) FROM verdicts WHERE round_id=? GROUP BY allowed", (current.id,)
                    )
                )
                tasks = self.db.query(
                    """SELECT COUNT(*) FROM task_results t JOIN evaluations e ON e.id = t.evaluation_id
                       WHERE e.round_id=?""",
                    (current.id,),
                )[0][0]
                failures = self.db.query("SELECT COUNT(*) FROM failures WHERE round_id=?", (current.id,))[0][0]
                progress = {
                    "evaluations": counts,
                    "verdicts": {"allowed": verdicts.get(1, 0), "rejected": verdicts.get(0, 0)},
                    "tasks_done": int(tasks),
                    "failures": int(failures),
                }
                in_progress = current.to_dict() | {"progress": progress}
            last = self.last_finished_round()
            return {
                "schema_version": self.schema_version,
                "round_in_progress": in_progress,
                "last_round": last.to_dict() if last else None,
                "leaderboard": self.leaderboard(),
                "last_weights": self.last_weights(),
                "validator_activity": self.validator_activity(),
                "standings": self.standing_ages(),
            }

    def report(self, round_id: int) -> dict[str, Any]:
        """Everything recorded about one round: models, verdicts, evaluations with task counts, failures, weights.

        Evaluations and failures carry their model's identity so a report reads without a second lookup.
        """
        with self.db.snapshot():
            rnd = self.get_round(round_id)
            if rnd is None:
                raise StoreError(f"no round {round_id}")
            models = self.db.query(
                """SELECT m.id, m.hotkey, m.uid, m.repo, m.revision, m.content_hash, m.commit_block,
                          v.allowed, v.violations
                   FROM verdicts v JOIN models m ON m.id = v.model_id WHERE v.round_id=? ORDER BY m.id""",
                (round_id,),
            )
            rows = self.db.query(
                """SELECT e.model_id, m.hotkey, m.uid, m.repo, m.revision, e.content_hash, e.status, e.score,
                          (SELECT COUNT(*) FROM task_results t WHERE t.evaluation_id = e.id), e.details
                   FROM evaluations e JOIN models m ON m.id = e.model_id WHERE e.round_id=? ORDER BY e.id""",
                (round_id,),
            )
            keys = ("model_id", "hotkey", "uid", "repo", "revision", "content_hash", "status", "score", "tasks_done")
            evaluations = [
                dict(zip(keys, row[:-1], strict=True)) | {"details": from_json(row[-1]) or {}} for row in rows
            ]
            model_keys = ("model_id", "hotkey", "uid", "repo", "revision", "content_hash", "commit_block")
            return {
                "round": rnd.to_dict(),
                "models": [
                    dict(zip(model_keys, m[:7], strict=True)) | {"allowed": bool(m[7]), "violations": from_json(m[8])}
                    for m in models
                ],
                "evaluations": evaluations,
                "failures": self._failures_with_models(round_id),
                "weights": self.weights_for(round_id),
            }
