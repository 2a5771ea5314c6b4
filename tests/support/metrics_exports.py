"""The metric names the exporter produces, read from a real scrape, and the metric names a PromQL text uses."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.metrics.exposition import metrics_endpoint
from harness.state.store import Store
from harness.views.status_server import StatusServer
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
MONITORING = REPO / "compose" / "monitoring"
# What Prometheus itself adds to every target (`up`) and the PromQL functions and keywords used beside names.
PROMETHEUS_OWN = frozenset({"up"})
_SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}


def scraped_names(tmp_path: Path) -> set[str]:
    """Every series name a GET /metrics can show: sample names, and for families without samples yet (a labelled
    gauge before its first label, a counter before its first failure) the names their type gives."""
    store = Store(tmp_path / "state.sqlite")
    server = StatusServer(
        "127.0.0.1", 0, status=dict, alive=lambda: True, metrics=metrics_endpoint(store, tmp_path, lambda: "fp")
    ).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.stop()
        store.close()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SERIES_SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers outside label matchers and `by`/`on` lists that
    name a series (ours start with `harness_`; `up` is Prometheus' own)."""
    without_matchers = re.sub(r"\{[^}]*\}", "", expr)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_matchers)
    identifiers = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_groupings))
    return {name for name in identifiers if name.startswith("harness_") or name in PROMETHEUS_OWN}
