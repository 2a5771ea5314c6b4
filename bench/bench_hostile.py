"""Cost of the bounded checker: the policy worker against the in-process check, and hostile inputs' cost.

Measured in one run, interleaved: the worker's overhead as a ratio (worker / in-process) on the real SmolLM2,
and for each hostile input of issue 12 the time to a verdict and the worker's peak RSS (main's figures for the
same inputs: template index ~140 s, JSON flood 3.4 GB, 100 MB header 1.3 GB and 30 s, 1.2 GB info body 1.3 GB).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

RUNS = 5


def _worker(target: dict, config) -> tuple[float, int, bool]:  # type: ignore[no-untyped-def]
    import policies

    started = time.perf_counter()
    try:
        result = policies.check_in_worker(target, config, limits=policies.WorkerLimits(60, 512 * 1024**2))
        peak, allowed = result.peak_rss_bytes, result.report.allowed
    except policies.CheckError as exc:
        peak, allowed = getattr(exc, "peak_rss_bytes", 0), False
    return time.perf_counter() - started, peak, allowed


def run() -> dict:
    import policies
    from harness.demo.bundled_models import smollm2_dir
    from harness.settings.root import default_cache_dir
    from policies.config import HubConfig, PolicyConfig
    from tests.support.hostile_hub import SHA, HostileHub
    from tests.support.hostile_models import HOSTILE
    from tests.support.model_factory import write_tiny_model

    config = PolicyConfig()
    tiny = smollm2_dir(default_cache_dir())
    in_process, worker = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        policies.check_local(tiny, config)
        in_process.append(time.perf_counter() - started)
        worker.append(_worker({"local": str(tiny), "deep": True}, config)[0])
    hostile = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("template-power", "template-repeat", "json-flood", "giant-header", "header-under-cap"):
            root = write_tiny_model(Path(tmp) / name)
            HOSTILE[name][1](root)
            seconds, peak, allowed = _worker({"local": str(root), "deep": True}, config)
            hostile[name] = {"seconds": round(seconds, 3), "peak_rss_mb": round(peak / 1e6, 1), "allowed": allowed}
    for behaviour in ("huge-info", "gzip-info", "many-files"):
        with HostileHub(behaviour) as hub:
            hub_config = HubConfig(endpoint=hub.url, attempts=1, timeout_s=2, request_deadline_s=3)
            started = time.perf_counter()
            try:
                policies.check_in_worker({"repo_id": "org/evil", "revision": SHA}, config, hub_config)
                peak = -1
            except policies.CheckError as exc:
                peak = getattr(exc, "peak_rss_bytes", 0)
            hostile[f"hub-{behaviour}"] = {
                "seconds": round(time.perf_counter() - started, 3),
                "peak_rss_mb": round(peak / 1e6, 1),
                "bytes_sent_mb": round(hub.sent_to("/") / 1e6, 1),
            }
    return {
        "runs": RUNS,
        "smollm2_in_process_seconds_median": round(statistics.median(in_process), 4),
        "smollm2_worker_seconds_median": round(statistics.median(worker), 4),
        "worker_over_in_process_ratio": round(statistics.median(worker) / statistics.median(in_process), 2),
        "hostile": hostile,
        "goal": {"each_hostile_seconds_max": 10, "each_peak_rss_mb_max": 512},
        "goal_met": all(h["seconds"] <= 10 and 0 < h["peak_rss_mb"] < 512 for h in hostile.values()),
    }
