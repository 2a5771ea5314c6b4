"""Weights under commit-reveal, kept honest: what the state says about each weights record, checked against the chain.

On a commit-reveal subnet `set_weights` only commits: the weights are time-locked to a drand round and take effect
when the chain reveals them, an epoch or more later; until then the chain still holds our previous weights. So a
weights record keeps its commit's block and `reveal_round`, and `watch_weights` (called by the supervisor between
rounds) asks the chain about every record not yet settled and stores the answer: `pending`, `revealed` (with the
block the reveal wrote) or `dropped` (the chain refused it at reveal). It also reads our `LastUpdate` against the
subnet's activity cutoff and warns as it nears. `/status`, `harness status` and reports read the stored answer
through `reveal_view`, which words it as one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from chain.base import Chain, ChainError, drand_round_time

if TYPE_CHECKING:
    from harness.state.store import Store

log = structlog.get_logger("weights")
ACTIVITY_WARNING = 0.8  # share of the activity cutoff at which the operator is warned


def _utc(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def reveal_view(
    block: int | None,
    reveal_round: int | None,
    state: str | None,
    revealed_block: int | None,
    detail: str | None,
    checked_block: int | None,
    checked_at: float | None,
) -> dict[str, Any]:
    """The reveal state of one weights record and its one-line wording (`line`), as stored.

    A record set in the clear is in force from its block; a commit is `pending` until a check says otherwise."""
    if reveal_round is None:
        state = "set"
    elif state is None:
        state = "pending"
    reveals_at = drand_round_time(reveal_round) if reveal_round is not None else None
    if state == "set":
        line = f"set at block {block}"
    elif state == "pending":
        line = f"committed at block {block}, reveals at drand round {reveal_round} (about {_utc(reveals_at or 0)})"
    elif state == "revealed":
        line = f"revealed at block {revealed_block}" if revealed_block is not None else (detail or "revealed")
        line += f" (committed at block {block}, drand round {reveal_round})"
    else:
        line = f"dropped by the chain: {detail or 'the commit was not applied'} (committed at block {block})"
    if checked_block is not None and state != "set":
        line += f"; checked against the chain at block {checked_block}"
    return {
        "state": state,
        "commit_block": block,
        "reveal_round": reveal_round,
        "reveals_at": reveals_at,
        "revealed_block": revealed_block,
        "detail": detail,
        "checked_block": checked_block,
        "checked_at": checked_at,
        "line": line,
    }


def watch_weights(store: Store, chain: Chain) -> list[str]:
    """Check every unsettled weights record against the chain and our activity; store the answers and return the
    warnings logged (a dropped commit, the activity cutoff near). Never raises for chain trouble: the check is
    repeated on the next call, and a round must not wait on it."""
    warnings: list[str] = []
    try:
        for round_id, commit_block, reveal_round in store.read.unsettled_weights():
            status = chain.reveal_status(commit_block, reveal_round)
            store.record_reveal(round_id, status.state, status.revealed_block, status.detail, status.checked_block)
            if status.state == "dropped":
                log.warning("weights dropped", round=round_id, commit_block=commit_block, detail=status.detail)
                warnings.append(f"round {round_id}'s weights were dropped by the chain: {status.detail}")
            elif status.state == "revealed":
                log.info("weights revealed", round=round_id, block=status.revealed_block, reveal_round=reveal_round)
        activity = chain.validator_activity()
    except ChainError as exc:
        log.warning("weights check skipped: chain unavailable", error=str(exc))
        return warnings
    warning = activity.warning(ACTIVITY_WARNING)
    store.record_activity(activity.block, activity.last_update, activity.activity_cutoff, warning)
    if warning:
        log.warning("activity cutoff near", warning=warning, blocks_since=activity.blocks_since)
        warnings.append(warning)
    return warnings


def activity_view(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    """The stored activity reading for `/status`: blocks since our LastUpdate, the cutoff, and a warning line."""
    if row is None:
        return None
    block, last_update, cutoff, warning, checked_at = row
    return {
        "block": block,
        "last_update": last_update,
        "blocks_since": max(0, block - last_update) if last_update else None,
        "activity_cutoff": cutoff,
        "warning": warning,
        "checked_at": checked_at,
    }


def status_lines(weights: Mapping[str, Any] | None, activity: Mapping[str, Any] | None = None) -> list[str]:
    """The lines `harness status` and reports print under the weights: the commit's reveal state (nothing for
    weights set in the clear: the table's block says it) and the activity-cutoff warning, if any."""
    lines = []
    reveal = (weights or {}).get("reveal")
    if isinstance(reveal, Mapping) and reveal.get("state") != "set":
        lines.append(f"weights: {reveal['line']}")
    if activity and activity.get("warning"):
        lines.append(f"warning: {activity['warning']}")
    return lines
