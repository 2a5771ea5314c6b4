"""What `harness status`, `harness report` and the service's `/status` endpoint read from the state database.

The CLI and the validator service both answer "what is the validator doing"; keeping the payload here means the
service does not import the CLI and both always print the same shape.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.feed.round_feed import feed_status
from harness.fingerprint import scoring_fingerprint
from harness.round.round_fingerprint import latest_round_fingerprint
from harness.state.store import Store

RECENT_FAILURES = 10

EMPTY_STATUS: dict[str, Any] = {
    "schema_version": None,
    "round_in_progress": None,
    "last_round": None,
    "leaderboard": [],
    "standings": [],
    "last_weights": None,
    "validator_activity": None,
    "recent_failures": [],
    "feed": None,
    "scoring_fingerprint": None,
}


def status_payload(store: Store, failures: int = RECENT_FAILURES) -> dict[str, Any]:
    """What `harness status --json` prints: `Store.status()` plus the recent failures and the latest round's
    task feed (read, or the `feed/<class>` failure it fell back on)."""
    return store.read.status() | {
        "recent_failures": store.read.recent_failures(failures),
        "feed": feed_status(store),
        "scoring_fingerprint": fingerprint_status(store),
    }


def fingerprint_status(store: Store) -> dict[str, Any]:
    """This installation's scoring fingerprint beside the one the latest round recorded: two operators compare
    `installed.value`; a change between rounds shows as `installed` differing from `last_round`."""
    return {"installed": scoring_fingerprint().as_dict(), "last_round": latest_round_fingerprint(store)}


def resolve_round(store: Store, spec: str) -> int:
    """A round id from `N`, `last` (the latest finished round) or `current` (the round in progress)."""
    spec = spec.strip().lower()
    if spec == "last":
        rnd = store.read.last_finished_round()
        if rnd is None:
            raise HarnessError("no finished round yet (try `current`)")
        return rnd.id
    if spec == "current":
        rnd = store.read.current_round()
        if rnd is None:
            raise HarnessError("no round in progress")
        return rnd.id
    if not spec.isdigit():
        raise HarnessError(f"ROUND must be a round number, `last` or `current`, not {spec!r}")
    if store.read.get_round(int(spec)) is None:
        raise HarnessError(f"no round {int(spec)}")
    return int(spec)
