"""Policy check time: the real SmolLM2 (135M) against a sparse 8B-parameter safetensors model.

The check reads headers, not weights, so its cost should not grow with model size: the goal is a ratio
(8B / tiny, medians) of at most 1.5 and an 8B check under 0.1 s. Both run in-process, interleaved, so the
shared machine's noise hits both alike.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

RUNS = 15


def _time(fn, path: Path) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    report = fn(path)
    elapsed = time.perf_counter() - started
    if report.facts["parameters"] <= 0:
        raise RuntimeError(f"check of {path} counted no parameters")
    return elapsed


def _tensors(manifest) -> int:  # type: ignore[no-untyped-def]
    return sum(len(h.tensors) for h in manifest.headers.values())


def _huge_header_seconds() -> float:
    """Median time to reject a header-length field of 2**40 (no allocation, one comparison)."""
    import struct

    from policies.safetensors_header import HeaderError, read_header

    blob = struct.pack("<Q", 2**40)
    times = []
    for _ in range(1000):
        started = time.perf_counter()
        with contextlib.suppress(HeaderError):
            read_header(lambda start, n: blob[start : start + n], 2**41, 100 * 1024 * 1024)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 7)


def _hub_seconds(tiny: Path, big: Path) -> dict:
    """The same checks through the Hub path against the local stand-in server (loopback HTTP, ranged reads)."""
    import policies
    from policies.config import HubConfig
    from tests.support.hubserver import HubServer

    with HubServer() as hub:
        hub.add_repo("bench/tiny", tiny)
        hub.add_repo("bench/big", big)
        config = HubConfig(endpoint=hub.url)
        out = {}
        for name in ("tiny", "big"):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                policies.check_hub(f"bench/{name}", "main", hub=config)
                times.append(time.perf_counter() - started)
            out[name] = round(statistics.median(times), 4)
    return out


def run() -> dict:
    import policies
    from harness.demo.bundled_models import smollm2_dir
    from harness.settings.root import default_cache_dir
    from tests.support.model_factory import write_sparse_model

    tiny = smollm2_dir(default_cache_dir())
    with tempfile.TemporaryDirectory() as tmp:
        big = write_sparse_model(Path(tmp) / "sparse-8b", 8e9)
        big_report = policies.check_local(big)
        if not big_report.allowed:
            raise RuntimeError(f"sparse 8B model should pass: {big_report.violations}")
        tiny_times, big_times = [], []
        for _ in range(RUNS):
            tiny_times.append(_time(policies.check_local, tiny))
            big_times.append(_time(policies.check_local, big))
        hub_seconds = _hub_seconds(tiny, big)
        params_big = big_report.facts["parameters"]
        tensors_big = _tensors(policies.build_local_manifest(big))
    hostile_seconds = _huge_header_seconds()
    tiny_median, big_median = statistics.median(tiny_times), statistics.median(big_times)
    return {
        "runs": RUNS,
        "tiny_model": "SmolLM2-135M-Instruct (real, bf16)",
        "tiny_parameters": policies.check_local(tiny).facts["parameters"],
        "big_model": "sparse safetensors, Llama-shaped",
        "big_parameters": params_big,
        "big_tensors": tensors_big,
        "tiny_tensors": _tensors(policies.build_local_manifest(tiny)),
        "header_len_2_40_reject_seconds": hostile_seconds,
        "tiny_seconds": {"median": round(tiny_median, 5), "min": round(min(tiny_times), 5)},
        "big_seconds": {"median": round(big_median, 5), "min": round(min(big_times), 5)},
        "ratio_median": round(big_median / tiny_median, 3),
        "ratio_min": round(min(big_times) / min(tiny_times), 3),
        "goal": {"ratio_max": 1.5, "big_seconds_max": 0.1},
        "hub_path_seconds_median": hub_seconds,
        "goal_met": big_median / tiny_median <= 1.5 and big_median < 0.1,
    }
