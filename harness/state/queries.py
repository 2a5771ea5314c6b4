"""The read model of the state database: what `harness status`, the status endpoint and round reports show.

Kept apart from the writer (`harness.state.store.Store`, one transaction per supervisor step) so that reads are
planned as reads: each report is a fixed number of joined queries, whatever the number of models, instead of a
lookup per row. The methods run on the store's connection (`_query`, `_snapshot`) and its keyed lookups.
"""

from __future__ import annotations

import json
from typing import Any

from harness.errors import HarnessError


class StoreError(HarnessError):
    """The state database cannot be used (newer schema, corrupt file, unknown id)."""


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _round_dict(rnd: Any) -> dict[str, Any]:
    return {
        "id": rnd.id,
        "status": rnd.status,
        "block": rnd.block,
        "block_hash": rnd.block_hash,
        "started_at": rnd.started_at,
        "finished_at": rnd.finished_at,
        "note": rnd.note,
    }


class StateReadModel:
    """Status and report queries; mixed into `Store`, which provides the connection and the keyed lookups."""

    # provided by the store
    _query: Any
    _snapshot: Any
    schema_version: Any
    get_round: Any
    current_round: Any
    last_finished_round: Any
    weights_for: Any
    last_weights: Any

    def leaderboard(self, round_id: int | None = None) -> list[dict[str, Any]]:
        """Finished evaluations of a round (default: the latest round that has any), best score first."""
        if round_id is None:
            rows = self._query("SELECT MAX(round_id) FROM evaluations WHERE status='done'")
            round_id = rows[0][0]
            if round_id is None:
                return []
        rows = self._query(
            """SELECT m.hotkey, m.uid, m.repo, m.revision, m.content_hash, m.commit_block, e.score, e.round_id
               FROM evaluations e JOIN models m ON m.id = e.model_id
               WHERE e.round_id=? AND e.status='done' ORDER BY e.score DESC, m.commit_block ASC""",
            (round_id,),
        )
        keys = ("hotkey", "uid", "repo", "revision", "content_hash", "commit_block", "score", "round")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def latest_round(self) -> Any:
        """The most recent round, running or finished."""
        rows = self._query("SELECT MAX(id) FROM rounds")
        return self.get_round(int(rows[0][0])) if rows[0][0] is not None else None

    def _failures_with_models(self, round_id: int) -> list[dict[str, Any]]:
        """Failures of a round, each naming its model (`model`: hotkey, uid, repo, revision) when it has one.
        One query: the model is joined by the id in the subject (`model:ID`)."""
        rows = self._query(
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
        with self._snapshot():
            rnd = self.current_round() or self.latest_round()
            return self._failures_with_models(rnd.id)[-limit:] if rnd is not None and limit > 0 else []

    def status(self) -> dict[str, Any]:
        """Round in progress with its progress counts, last finished round, leaderboard and last weights."""
        with self._snapshot():
            current = self.current_round()
            in_progress = None
            if current is not None:
                counts = dict(
                    self._query(
                        "SELECT status, COUNT(*) FROM evaluations WHERE round_id=? GROUP BY status", (current.id,)
                    )
                )
                verdicts = dict(
                    self._query(
                        "SELECT allowed, COUNT(*) FROM verdicts WHERE round_id=? GROUP BY allowed", (current.id,)
                    )
                )
                tasks = self._query(
                    """SELECT COUNT(*) FROM task_results t JOIN evaluations e ON e.id = t.evaluation_id
                       WHERE e.round_id=?""",
                    (current.id,),
                )[0][0]
                failures = self._query("SELECT COUNT(*) FROM failures WHERE round_id=?", (current.id,))[0][0]
                progress = {
                    "evaluations": counts,
                    "verdicts": {"allowed": verdicts.get(1, 0), "rejected": verdicts.get(0, 0)},
                    "tasks_done": int(tasks),
                    "failures": int(failures),
                }
                in_progress = _round_dict(current) | {"progress": progress}
            last = self.last_finished_round()
            return {
                "schema_version": self.schema_version,
                "round_in_progress": in_progress,
                "last_round": _round_dict(last) if last else None,
                "leaderboard": self.leaderboard(),
                "last_weights": self.last_weights(),
            }

    def report(self, round_id: int) -> dict[str, Any]:
        """Everything recorded about one round: models, verdicts, evaluations with task counts, failures, weights.

        Evaluations and failures carry their model's identity so a report reads without a second lookup.
        """
        with self._snapshot():
            rnd = self.get_round(round_id)
            if rnd is None:
                raise StoreError(f"no round {round_id}")
            models = self._query(
                """SELECT m.id, m.hotkey, m.uid, m.repo, m.revision, m.content_hash, m.commit_block,
                          v.allowed, v.violations
                   FROM verdicts v JOIN models m ON m.id = v.model_id WHERE v.round_id=? ORDER BY m.id""",
                (round_id,),
            )
            rows = self._query(
                """SELECT e.model_id, m.hotkey, m.uid, m.repo, m.revision, e.content_hash, e.status, e.score,
                          (SELECT COUNT(*) FROM task_results t WHERE t.evaluation_id = e.id), e.details
                   FROM evaluations e JOIN models m ON m.id = e.model_id WHERE e.round_id=? ORDER BY e.id""",
                (round_id,),
            )
            keys = ("model_id", "hotkey", "uid", "repo", "revision", "content_hash", "status", "score", "tasks_done")
            evaluations = [dict(zip(keys, row[:-1], strict=True)) | {"details": _loads(row[-1]) or {}} for row in rows]
            return {
                "round": _round_dict(rnd),
                "models": [
                    {
                        "model_id": m[0],
                        "hotkey": m[1],
                        "uid": m[2],
                        "repo": m[3],
                        "revision": m[4],
                        "content_hash": m[5],
                        "commit_block": m[6],
                        "allowed": bool(m[7]),
                        "violations": _loads(m[8]),
                    }
                    for m in models
                ],
                "evaluations": evaluations,
                "failures": self._failures_with_models(round_id),
                "weights": self.weights_for(round_id),
            }
