"""A round reads the feed once, at its start, and keeps what it read in the state store (`round_feeds`), so a
resumed round evaluates the same tasks even when the source has changed or gone since, and `/status` shows it.

The first write wins (`INSERT OR IGNORE`), like every step of the store; a failed read is kept too (the round
fell back to local tasks and must keep doing so when resumed) and recorded as the round's `feed` failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from harness.errors import Failure
from harness.feed.tasks import STAGE, FeedTasks
from harness.state.store import Store


def recorded_feed(store: Store, round_id: int) -> FeedTasks | None:
    rows = store.db.query(
        "SELECT epoch, batch_sha256, entries, failure_class, reason FROM round_feeds WHERE round_id=?", (round_id,)
    )
    if not rows:
        return None
    epoch, digest, entries, failure_class, reason = rows[0]
    if failure_class is not None:
        return FeedTasks(epoch=int(epoch), failure=Failure(STAGE, failure_class, reason or ""))
    return FeedTasks(epoch=int(epoch), entries=tuple(json.loads(entries)), batch_sha256=digest)


def record_feed(store: Store, round_id: int, feed: FeedTasks) -> None:
    failure = feed.failure
    with store.db.transaction() as db:
        db.execute(
            """INSERT OR IGNORE INTO round_feeds
               (round_id, epoch, batch_sha256, entries, failure_class, reason, recorded_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                round_id,
                feed.epoch,
                feed.batch_sha256,
                None if failure is not None else json.dumps(list(feed.entries), sort_keys=True),
                failure.failure_class if failure is not None else None,
                failure.message if failure is not None else None,
                time.time(),
            ),
        )
    if failure is not None:
        store.record_failure(round_id, "round", STAGE, failure.failure_class, failure.message)


def round_feed(store: Store, round_id: int, read: Callable[[], FeedTasks | None]) -> FeedTasks | None:
    """The round's feed: what it recorded before a restart, else `read()` now, recorded (None: no feed)."""
    recorded = recorded_feed(store, round_id)
    if recorded is not None:
        return recorded
    feed = read()
    if feed is not None:
        record_feed(store, round_id, feed)
        feed = recorded_feed(store, round_id) or feed  # a concurrent writer's record wins, as in the store
    return feed


def feed_status(store: Store) -> dict[str, Any] | None:
    """The latest round's feed for `/status`: its epoch and batch, or the failure it fell back on."""
    rows = store.db.query(
        """SELECT round_id, epoch, batch_sha256, entries, failure_class, reason FROM round_feeds
           ORDER BY round_id DESC LIMIT 1"""
    )
    if not rows:
        return None
    round_id, epoch, digest, entries, failure_class, reason = rows[0]
    if failure_class is not None:
        return {
            "round": round_id,
            "epoch": epoch,
            "status": "fallback",
            "failure": f"feed/{failure_class}",
            "reason": reason,
        }
    return {
        "round": round_id,
        "epoch": epoch,
        "status": "read",
        "batch_sha256": digest,
        "entries": len(json.loads(entries)),
    }
