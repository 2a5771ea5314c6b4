"""Metrics read from the state database at scrape time: what the validator has done, not what this process saw.

Why at scrape time: rounds, evaluations, failures and weights live in SQLite and survive restarts. Reading them
per scrape (a few aggregate queries) gives counters that do not reset with the process and can never disagree
with `/status`, and gauges (weights age, pending reveals) that are right even just after a restart.

Counters are counts of rows that are only ever inserted (failures, weights records) or that move one way
(a round or an evaluation goes from `running` to `done` or `failed`, never back), so they never decrease;
what can go down (the round in progress, the models queued) is a gauge. Label values come from code-defined sets
(statuses, stages, failure classes), never from miners' input.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.state.db import Database
from harness.state.store import Store

FINISHED_STATUSES = ("done", "failed")


class StoreCollector(Collector):
    def __init__(
        self,
        store: Store,
        cache_dir: Path,
        fingerprint: Callable[[], str | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._cache_dir = Path(cache_dir)
        self._fingerprint = fingerprint
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        db = self._store.db
        yield from _rounds(db)
        yield from _evaluations(db)
        yield from _failures(db)
        yield from _weights(db, self._clock())
        yield from _activity(db)
        yield from _disk(self._cache_dir)
        info = InfoMetricFamily("harness_scoring_fingerprint", "The scoring fingerprint of this installation.")
        value = self._fingerprint() if self._fingerprint is not None else None
        if value is not None:
            info.add_metric([], {"value": value})
        yield info


def _rounds(db: Database) -> Iterator[Metric]:
    finished = CounterMetricFamily("harness_rounds", "Rounds finished, by final status.", labels=["status"])
    counts = dict(db.query("SELECT status, COUNT(*) FROM rounds WHERE status != 'running' GROUP BY status"))
    for status in FINISHED_STATUSES:  # both always present, so `increase()` sees the first one
        finished.add_metric([status], float(counts.get(status, 0)))
    yield finished

    latest = db.query("SELECT id, status FROM rounds ORDER BY id DESC LIMIT 1")
    current = GaugeMetricFamily("harness_round_current", "Number of the latest round (running or finished).")
    running = GaugeMetricFamily("harness_round_running", "1 while a round is in progress.")
    if latest:
        current.add_metric([], float(latest[0][0]))
    running.add_metric([], 1.0 if latest and latest[0][1] == "running" else 0.0)
    yield current
    yield running

    last = db.query(
        "SELECT id, started_at, finished_at FROM rounds WHERE status='done' AND finished_at IS NOT NULL "
        "ORDER BY id DESC LIMIT 1"
    )
    finished_at = GaugeMetricFamily(
        "harness_last_round_finished_timestamp_seconds", "Unix time the last round that finished as done ended."
    )
    duration = GaugeMetricFamily("harness_last_round_duration_seconds", "Wall seconds of the last done round.")
    evaluate = GaugeMetricFamily(
        "harness_last_round_evaluate_seconds",
        "Evaluate-stage seconds of the last done round, over its models: their sum and the longest.",
        labels=["stat"],
    )
    if last:
        round_id, started_at, ended_at = last[0]
        finished_at.add_metric([], float(ended_at))
        duration.add_metric([], float(ended_at) - float(started_at))
        total, longest = db.query(
            "SELECT SUM(finished_at - started_at), MAX(finished_at - started_at) FROM evaluations "
            "WHERE round_id=? AND finished_at IS NOT NULL",
            (round_id,),
        )[0]
        if total is not None:
            evaluate.add_metric(["sum"], float(total))
            evaluate.add_metric(["max"], float(longest))
    yield finished_at
    yield duration
    yield evaluate


def _evaluations(db: Database) -> Iterator[Metric]:
    total = CounterMetricFamily(
        "harness_evaluations", "Model evaluations finished, all rounds, by status.", labels=["status"]
    )
    counts = dict(db.query("SELECT status, COUNT(*) FROM evaluations WHERE status != 'running' GROUP BY status"))
    for status in FINISHED_STATUSES:
        total.add_metric([status], float(counts.get(status, 0)))
    yield total

    current = db.query("SELECT id FROM rounds WHERE status='running' ORDER BY id DESC LIMIT 1")
    in_round = GaugeMetricFamily(
        "harness_round_evaluations", "Evaluations of the round in progress, by status.", labels=["status"]
    )
    queued = GaugeMetricFamily(
        "harness_round_models_queued", "Models the round in progress planned and has not concluded yet."
    )
    if current:
        round_id = int(current[0][0])
        counts = dict(
            db.query("SELECT status, COUNT(*) FROM evaluations WHERE round_id=? GROUP BY status", (round_id,))
        )
        for status in ("running", *FINISHED_STATUSES):
            in_round.add_metric([status], float(counts.get(status, 0)))
        planned = db.query("SELECT planned FROM round_schedules WHERE round_id=?", (round_id,))
        if planned:
            visited = db.query("SELECT COUNT(*) FROM schedule_visits WHERE round_id=?", (round_id,))[0][0]
            queued.add_metric([], float(max(0, int(planned[0][0]) - int(visited))))
    yield in_round
    yield queued


def _failures(db: Database) -> Iterator[Metric]:
    failures = CounterMetricFamily(
        "harness_failures", "Failures recorded, all rounds, by stage and class.", labels=["stage", "failure_class"]
    )
    for stage, failure_class, count in db.query(
        "SELECT stage, class, COUNT(*) FROM failures GROUP BY stage, class ORDER BY stage, class"
    ):
        failures.add_metric([str(stage), str(failure_class)], float(count))
    yield failures


def _weights(db: Database, now: float) -> Iterator[Metric]:
    count = CounterMetricFamily("harness_weights_set", "Rounds whose weights were set (or committed) on chain.")
    count.add_metric([], float(db.query("SELECT COUNT(*) FROM weights_set")[0][0]))
    yield count

    last = db.query("SELECT block, set_at FROM weights_set ORDER BY round_id DESC LIMIT 1")
    stamp = GaugeMetricFamily("harness_last_weights_timestamp_seconds", "Unix time the last weights were set.")
    age = GaugeMetricFamily("harness_last_weights_age_seconds", "Seconds since the last weights were set.")
    block = GaugeMetricFamily(
        "harness_last_weights_block", "Block of the last weights (the commit's block under commit-reveal)."
    )
    if last:
        weights_block, set_at = last[0]
        stamp.add_metric([], float(set_at))
        age.add_metric([], max(0.0, now - float(set_at)))
        if weights_block is not None:
            block.add_metric([], float(weights_block))
    yield stamp
    yield age
    yield block

    pending = GaugeMetricFamily(
        "harness_pending_reveals", "Weights commits not revealed yet (commit-reveal; 0 when weights are set plainly)."
    )
    pending.add_metric(
        [],
        float(
            db.query(
                "SELECT COUNT(*) FROM weights_set "
                "WHERE reveal_round IS NOT NULL AND COALESCE(reveal_state, 'pending') = 'pending'"
            )[0][0]
        ),
    )
    yield pending


def _activity(db: Database) -> Iterator[Metric]:
    """The latest reading of our LastUpdate against the activity cutoff (taken at each round loop's start)."""
    since = GaugeMetricFamily(
        "harness_blocks_since_weights", "Blocks from the chain's LastUpdate of this validator to the last reading."
    )
    cutoff = GaugeMetricFamily("harness_activity_cutoff_blocks", "The subnet's activity cutoff, in blocks.")
    checked = GaugeMetricFamily(
        "harness_activity_checked_timestamp_seconds", "Unix time of the last reading of LastUpdate."
    )
    row = db.query("SELECT block, last_update, activity_cutoff, checked_at FROM validator_activity WHERE id=1")
    if row:
        block, last_update, activity_cutoff, checked_at = row[0]
        since.add_metric([], float(max(0, int(block) - int(last_update))))
        cutoff.add_metric([], float(activity_cutoff))
        checked.add_metric([], float(checked_at))
    yield since
    yield cutoff
    yield checked


def _disk(cache_dir: Path) -> Iterator[Metric]:
    usage = shutil.disk_usage(_existing(cache_dir))
    free = GaugeMetricFamily("harness_cache_disk_free_bytes", "Free bytes on the disk holding the cache.")
    free.add_metric([], float(usage.free))
    size = GaugeMetricFamily("harness_cache_disk_size_bytes", "Size in bytes of the disk holding the cache.")
    size.add_metric([], float(usage.total))
    yield free
    yield size


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (the cache may not be created yet on a fresh install)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe
