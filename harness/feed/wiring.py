"""The feed's parts from settings: where batches are read from (`tasks.feed_*`) and which beacon opens them."""

from __future__ import annotations

from typing import Any

from harness.feed.beacon import Beacon, ChainBeacon, DrandHttpBeacon, LocalBeacon
from harness.feed.reader import FeedSource, read_feed
from harness.feed.tasks import FeedTasks
from harness.settings.root import Settings
from harness.tasks.config import TasksConfig


def feed_source(config: TasksConfig) -> FeedSource | None:
    """None when no feed is configured (the round's tool-call tasks are all generated locally, as before)."""
    if not config.feed_url:
        return None
    assert config.feed_curator is not None  # the settings refuse a feed_url without a curator
    return FeedSource(config.feed_url, config.feed_curator, config.feed_max_bytes, config.feed_timeout_s)


def beacon_kind(settings: Settings) -> str:
    kind = settings.tasks.feed_beacon
    if kind == "auto":
        return "local" if settings.chain.backend == "local" else "drand-http"
    return kind


def beacon_for(settings: Settings, chain: Any) -> Beacon:
    """The configured beacon; `chain` is the validator's own (the local beacon reads its block, the chain
    beacon its Drand pallet)."""
    kind = beacon_kind(settings)
    if kind == "local":
        return LocalBeacon(chain.current_block)
    if kind == "chain":
        return ChainBeacon(chain)
    tasks = settings.tasks
    return DrandHttpBeacon(tasks.feed_drand_url, tasks.feed_drand_chain_hash, timeout_s=tasks.feed_timeout_s)


def read_epoch_feed(settings: Settings, chain: Any, epoch: int) -> FeedTasks | None:
    """The feed of the epoch opened by seed block `epoch`, as the round, selftest and `harness feed show` read
    it (None: no feed configured)."""
    source = feed_source(settings.tasks)
    if source is None:
        return None
    return read_feed(source, epoch, beacon_for(settings, chain))
