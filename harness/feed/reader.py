"""One epoch's batch, from its source to the entries a round uses: what a validator (and `harness selftest`, and
`harness feed show`) does, the same code for all of them.

Order of checks: bounded read, format, epoch, curator, signature, the ciphertext's round, the beacon, the
plaintext's hash, the entries. Everything that can be checked without the beacon is checked first, so a forged or
misplaced batch is named for what it is even while its round is still locked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.feed import batch as batch_format
from harness.feed.beacon import Beacon
from harness.feed.errors import FeedError
from harness.feed.source import read_batch_bytes
from harness.feed.tasks import FeedTasks
from harness.tasks.bfcl import pool_entries
from harness.tasks.jsonl import parse_objects


@dataclass(frozen=True)
class FeedSource:
    """Where an epoch's batch is read from and whose signature it must carry (from `tasks.feed_*`)."""

    location: str
    curator: str
    max_bytes: int
    timeout_s: float = 30.0


def parse_entries(plaintext: bytes, name: str) -> list[dict]:
    """BFCL-format JSONL (a private pool's line format) to entries; anything else is `feed/malformed`."""
    try:
        lines = plaintext.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise FeedError("malformed", f"{name} is not UTF-8: {exc}") from None
    try:
        return pool_entries([row for _, row in parse_objects(lines, name)], name, "feed")
    except HarnessError as exc:
        raise FeedError("malformed", str(exc)) from None


def open_batch(data: bytes, epoch: int, curator: str, beacon: Beacon) -> list[dict]:
    """The entries of a batch's bytes for `epoch`, or the `FeedError` that says why not."""
    batch = batch_format.parse(data)
    if batch.epoch != epoch:
        raise FeedError("wrong-epoch", f"the batch is for epoch {batch.epoch}, not {epoch}")
    if batch.curator != curator:
        raise FeedError("wrong-curator", f"the batch is signed by {batch.curator}, not the curator {curator}")
    batch_format.verify_signature(batch)
    if batch_format.ciphertext_round(batch.ciphertext) != batch.drand_round:
        raise FeedError("malformed", f"the ciphertext is not locked to the batch's round {batch.drand_round}")
    signature = beacon.signature(batch.drand_round, epoch)
    if signature is None:
        raise FeedError("locked", f"drand round {batch.drand_round} is not out yet: epoch {epoch} has not opened")
    entries = parse_entries(batch_format.unlock(batch, signature), f"feed epoch {epoch}")
    if len(entries) != batch.entries:
        raise FeedError("malformed", f"the batch holds {len(entries)} entries, it declares {batch.entries}")
    return entries


def read_feed(source: FeedSource, epoch: int, beacon: Beacon) -> FeedTasks:
    """The epoch's feed as a round uses it; never raises for a feed fault: the failure is in the result."""
    try:
        data = read_batch_bytes(source.location, epoch, max_bytes=source.max_bytes, timeout_s=source.timeout_s)
        entries = open_batch(data, epoch, source.curator, beacon)
    except FeedError as exc:
        return FeedTasks.failed(epoch, exc.failure_class, str(exc))
    return FeedTasks(epoch=epoch, entries=tuple(entries), batch_sha256=hashlib.sha256(data).hexdigest())
