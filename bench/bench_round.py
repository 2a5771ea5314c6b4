"""A validator round of 3 real models, with and without the prepare stage (policy + download) overlapping
evaluation (`supervisor.prepare_ahead` 1 vs 0).

Real parts: the local chain, the state store, the local Hub mirror over loopback HTTP, the pinned and
hash-verified download into a fresh models dir for every run (so each run really downloads ~270 MB per
model), real CPU sandboxes running SmolLM2 (good, noised, and a second noised variant with another seed).
Each run gets a fresh chain and state database so nothing resumes.

Measured per run: the round's wall time, the sum of the evaluation stage's times alone, the sum of the
prepare stage's times, and round / sum-of-evaluations. Goal: the overlapped round close to the sum of the
evaluations (ratio near 1; only the first model's prepare cannot overlap anything).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import policies
from chain.commitment import format as format_commitment
from chain.factory import open_local_chain
from harness.demo.bundled_models import smollm2_degraded_dir, smollm2_dir
from harness.demo.hub_mirror import MirrorServer, publish
from harness.models.content_hash import salted_hash
from harness.round.service import build_supervisor
from harness.settings.root import Settings, load_settings

TOOLCALL_N = 4
MAX_TOKENS = 48
THIRD_SEED = 424242
THIRD_NOISE = 0.3


def _third_model(out: Path, cache: Path, seed: int = THIRD_SEED) -> Path:
    """SmolLM2 with a different seed and scale of noise: distinct content that policy allows."""
    import torch
    from safetensors.torch import load_file, save_file

    source = smollm2_dir(cache)
    out.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file() and item.name != "model.safetensors":
            shutil.copy2(item, out / item.name)
    generator = torch.Generator().manual_seed(seed)
    tensors = load_file(str(source / "model.safetensors"))
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.ndim >= 2:
            as_float = tensor.float()
            noise = torch.randn(as_float.shape, generator=generator) * as_float.std() * THIRD_NOISE
            tensors[name] = (as_float + noise).to(tensor.dtype)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _settings(data: Path, endpoint: str, prepare_ahead: int) -> Settings:
    return load_settings(
        [
            f"chain.local_db={data / 'chain.sqlite'}",
            "chain.block_period_s=0",
            f"state_db={data / 'state.sqlite'}",
            f"mirror.root={data.parent / 'mirror'}",
            f"fetch.models_dir={data / 'models'}",
            f"sandbox.socket_root={data / 'run'}",
            f"hub.endpoint={endpoint}",
            f"tasks.toolcall_n={TOOLCALL_N}",
            f"evaluation.max_tokens={MAX_TOKENS}",
            f"supervisor.prepare_ahead={prepare_ahead}",
        ]
    )


def publish_and_commit(settings: Settings, models: list[tuple[str, Path, str]]) -> None:
    """Publish each folder into the mirror and commit it, one block apart, like a miner would."""
    chain = open_local_chain(settings.chain, Path(settings.cache_dir))
    root = settings.paths.mirror
    for hotkey, folder, repo in models:
        published = publish(folder, repo, root, link=True)
        manifest = policies.build_local_manifest(published.path, settings.policy)
        files = policies.download_files(manifest, settings.policy)
        digest = salted_hash({f: published.digests[f] for f in files}, hotkey)
        chain.register(hotkey)
        chain.commit(hotkey, format_commitment(repo, published.sha, digest))
        chain.advance(1)


def timed_round(supervisor: Any) -> tuple[float, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run one round to its end: its wall time, leaderboard and failures (the store is closed after)."""
    started = time.perf_counter()
    round_id = supervisor.run_round()
    wall = time.perf_counter() - started
    board, failures = supervisor.store.read.leaderboard(round_id), supervisor.store.read.failures(round_id)
    supervisor.store.close()
    return wall, board, failures


def _one_round(base: Path, endpoint: str, models: list[tuple[str, Path, str]], prepare_ahead: int) -> dict[str, Any]:
    data = base / f"ahead-{prepare_ahead}"
    data.mkdir()
    settings = _settings(data, endpoint, prepare_ahead)
    publish_and_commit(settings, models)
    supervisor = build_supervisor(settings)
    evaluations: list[float] = []
    prepares: list[float] = []
    evaluate, prepare = supervisor.evaluate, supervisor.prepare

    def timed_evaluate(prepared: Any, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return evaluate(prepared, request)
        finally:
            evaluations.append(time.perf_counter() - started)

    def timed_prepare(record: Any, s: Settings) -> Any:
        started = time.perf_counter()
        try:
            return prepare(record, s)
        finally:
            prepares.append(time.perf_counter() - started)

    supervisor.evaluate, supervisor.prepare = timed_evaluate, timed_prepare
    wall, board, failures = timed_round(supervisor)
    downloaded = sum(f.stat().st_size for f in (data / "models").rglob("*") if f.is_file())
    shutil.rmtree(data / "models", ignore_errors=True)
    return {
        "prepare_ahead": prepare_ahead,
        "round_wall_s": round(wall, 2),
        "evaluations_s": [round(t, 2) for t in evaluations],
        "sum_evaluations_s": round(sum(evaluations), 2),
        "prepares_s": [round(t, 2) for t in prepares],
        "sum_prepares_s": round(sum(prepares), 2),
        "ratio_round_to_sum_evaluations": round(wall / sum(evaluations), 3) if evaluations else None,
        "outside_evaluation_s": round(wall - sum(evaluations), 2),
        "downloaded_bytes": downloaded,
        "scores": {row["hotkey"]: round(float(row["score"]), 4) for row in board},
        "failures": [f"{f['subject']} {f['stage']} {f['class']}" for f in failures],
    }


def run() -> dict[str, Any]:
    from bench.round_bookkeeping import run_bookkeeping

    bookkeeping = run_bookkeeping()
    cache = Path(load_settings().cache_dir)
    with tempfile.TemporaryDirectory(prefix="bench-round-") as tmp:
        base = Path(tmp)
        models = [
            ("bench-good", smollm2_dir(cache), "bench/smollm2-135m"),
            ("bench-worse", smollm2_degraded_dir(cache), "bench/smollm2-135m-noised"),
            ("bench-third", _third_model(base / "third", cache), "bench/smollm2-135m-noised-b"),
        ]
        (base / "mirror").mkdir()
        with MirrorServer(base / "mirror") as mirror:
            runs = [_one_round(base, mirror.url, models, ahead) for ahead in (0, 1)]
    serial, overlapped = runs
    return {
        "bookkeeping": bookkeeping,
        "models": [m[2] for m in models],
        "tasks_per_model": TOOLCALL_N,
        "max_tokens": MAX_TOKENS,
        "serial": serial,
        "overlapped": overlapped,
        "overlapped_ratio_to_sum_evaluations": overlapped["ratio_round_to_sum_evaluations"],
        "note": "ratio = round wall / sum of evaluation-stage times in the same run; outside_evaluation_s = "
        "round wall - sum of evaluations (what overlap can hide; the first model's prepare never overlaps). "
        "The two runs' round walls differ mostly by evaluation-time noise on a shared machine, not by overlap.",
    }
