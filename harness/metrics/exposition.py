"""The `/metrics` answer: the event metrics of this process plus the store's view, in Prometheus text format.

The text format 0.0.4 is the one every Prometheus (2.x, 3.x) and every agent reads. `_created` series (one more
sample per counter saying when the process made it) are turned off: they double the series and say nothing an
operator needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from harness.metrics.events import REGISTRY
from harness.metrics.store_collector import StoreCollector
from harness.state.store import Store

disable_created_metrics()


class _Background:
    """A value that takes long to compute the first time (the scoring fingerprint hashes tens of MB): computed in a
    thread started by the first scrape, `None` until then, so no scrape waits for it past Prometheus' timeout."""

    def __init__(self, compute: Callable[[], str]) -> None:
        self._compute = compute
        self._value: str | None = None
        self._started = False
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="metrics-fingerprint", daemon=True).start()
            return self._value

    def _run(self) -> None:
        value = self._compute()
        with self._lock:
            self._value = value


def metrics_endpoint(
    store: Store, cache_dir: Path, fingerprint: Callable[[], str] | None = None
) -> Callable[[], tuple[bytes, str]]:
    """A callable for the status server: each call renders both registries (events, then the store). The
    fingerprint appears from the scrape after it has been computed."""
    store_registry = CollectorRegistry(auto_describe=False)
    store_registry.register(StoreCollector(store, cache_dir, _Background(fingerprint) if fingerprint else None))

    def render() -> tuple[bytes, str]:
        return generate_latest(REGISTRY) + generate_latest(store_registry), CONTENT_TYPE_PLAIN_0_0_4

    return render
