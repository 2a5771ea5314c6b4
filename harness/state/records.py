"""The rows of the state database as the harness sees them, and their JSON columns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.state.reveals import reveal_view


@dataclass(frozen=True)
class Round:
    id: int
    status: str
    block: int | None
    block_hash: str | None
    started_at: float
    finished_at: float | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "block": self.block,
            "block_hash": self.block_hash,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "note": self.note,
        }


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


MODEL_COLUMNS = "id, hotkey, uid, repo, revision, content_hash, competition, commit_block"


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


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def from_json(text: str | None) -> Any:
    return json.loads(text) if text else None


WEIGHTS_COLUMNS = (
    "round_id, block, uids, weights, receipt, set_at, reveal_round, reveal_state, revealed_block, reveal_detail, "
    "reveal_checked_block, reveal_checked_at"
)


def weights_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """A weights record; `reveal` says whether the chain has them in force (`harness.state.reveals`)."""
    round_id, block, uids, weights, receipt, set_at, reveal_round, state, revealed, detail, checked, checked_at = row
    return {
        "round": round_id,
        "block": block,
        "uids": from_json(uids),
        "weights": from_json(weights),
        "receipt": from_json(receipt),
        "set_at": set_at,
        "reveal_round": reveal_round,
        "reveal": reveal_view(block, reveal_round, state, revealed, detail, checked, checked_at),
    }
