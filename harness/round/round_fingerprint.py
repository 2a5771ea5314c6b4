"""Each round keeps the scoring fingerprint it ran with (`round_fingerprints`), written once at its start.

Kept beside the round rather than in the fingerprint module so that computing a fingerprint needs no database,
and so a resumed round keeps the fingerprint it started with (INSERT OR IGNORE): the record says what scored it.
"""

from __future__ import annotations

import json
import time

from harness.fingerprint import Fingerprint
from harness.state.store import Store


def record_round_fingerprint(store: Store, round_id: int, fingerprint: Fingerprint) -> None:
    with store.db.transaction() as db:
        db.execute(
            """INSERT OR IGNORE INTO round_fingerprints (round_id, fingerprint, components, recorded_at)
               VALUES (?, ?, ?, ?)""",
            (round_id, fingerprint.value, json.dumps(fingerprint.components, sort_keys=True), time.time()),
        )


def round_fingerprint(store: Store, round_id: int) -> Fingerprint | None:
    rows = store.db.query("SELECT fingerprint, components FROM round_fingerprints WHERE round_id=?", (round_id,))
    if not rows:
        return None
    value, components = rows[0]
    return Fingerprint(str(value), json.loads(components))


def latest_round_fingerprint(store: Store) -> dict[str, object] | None:
    """The fingerprint of the newest round that recorded one, with its round id (for `/status` and reports)."""
    rows = store.db.query(
        "SELECT round_id, fingerprint, components FROM round_fingerprints ORDER BY round_id DESC LIMIT 1"
    )
    if not rows:
        return None
    round_id, value, components = rows[0]
    return {"round_id": int(round_id), "value": str(value), "components": json.loads(components)}
