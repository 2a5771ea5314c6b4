"""The near-copy signal in a round (real local chain, real store, sketches of real safetensors files): a later
near-copy by another hotkey is recorded as `dedupe/near-copy` against the earlier model and is still evaluated
and scored; the earlier model never is; an unsketchable model is evaluated too; `harness report` and `/status`
show the signal."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from safetensors.numpy import save_file

from chain.local import LocalChain
from harness.models.prepare import PreparedModel
from harness.models.sketch import compute_sketch
from harness.views.status import status_payload
from harness.views.status_server import StatusServer
from harness.views.tables import render_report
from tests.support.rounds import Stages, commit, scripted_supervisor


def model_files(folder: Path, seed: int, noise_of: int | None = None, scale: float = 0.0) -> bytes:
    """A small model's safetensors file (random matrices; or those of `noise_of` plus relative noise) and the
    serialised sketch the prepare stage would compute from it."""
    base = np.random.default_rng(noise_of if noise_of is not None else seed)
    tensors = {f"model.layers.{i}.mlp.up_proj.weight": base.normal(0, 0.05, (96, 64)) for i in range(4)}
    if noise_of is not None:
        noise = np.random.default_rng(seed)
        tensors = {n: t + noise.normal(0, t.std() * scale, t.shape) for n, t in tensors.items()}
    folder.mkdir(parents=True)
    save_file({n: t.astype(np.float32) for n, t in tensors.items()}, str(folder / "model.safetensors"))
    return compute_sketch(folder).to_bytes()


class SketchedStages(Stages):
    """The scripted stages, with the prepare stage's sketch (or its failure) for each hotkey."""

    def __init__(self, sketches: dict[str, bytes | str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sketches = sketches

    def prepare(self, record: Any, settings: Any) -> PreparedModel:
        prepared = super().prepare(record, settings)
        made = self.sketches[record.hotkey]
        if isinstance(made, str):
            return replace(prepared, sketch_error=made)
        return replace(prepared, sketch=made)


@pytest.fixture
def round_setup(tmp_path: Path, chain: LocalChain) -> tuple[Any, SketchedStages]:
    sketches: dict[str, bytes | str] = {
        "leader": model_files(tmp_path / "leader", seed=1),
        "copier": model_files(tmp_path / "copier", seed=2, noise_of=1, scale=0.02),
        "honest": model_files(tmp_path / "honest", seed=3),
        "broken": "model.safetensors: header length 1099511627776 exceeds the cap of 16777216 bytes",
    }
    for hotkey, tag in (("leader", "1"), ("copier", "2"), ("honest", "3"), ("broken", "4")):
        commit(chain, hotkey, f"org/{hotkey}", tag)
    identities = {h: f"id-{h}" for h in sketches}
    quality = {"leader": 0.8, "copier": 0.79, "honest": 0.5, "broken": 0.4}
    stages = SketchedStages(sketches, identities=identities, quality=quality)
    sup = scripted_supervisor(tmp_path, chain, stages)
    sup.prepare = stages.prepare
    return sup, stages


def by_hotkey(failures: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    for f in failures:
        out.setdefault(f["model"]["hotkey"], []).append((f["stage"], f["class"], f["reason"]))
    return out


def test_a_later_near_copy_is_flagged_evaluated_and_scored(round_setup: tuple[Any, SketchedStages]) -> None:
    sup, stages = round_setup
    for _ in range(2):  # the second round: the copier's sketch is stored by then; the leader is still not flagged
        round_id = sup.run_round()
        sup.chain.advance(sup.chain.tempo())
        failures = by_hotkey(sup.store.read.report(round_id)["failures"])
        assert sorted(failures) == ["broken", "copier"]
        ((stage, cls, reason),) = failures["copier"]
        assert (stage, cls) == ("dedupe", "near-copy")
        assert reason.startswith("0.99") and "leader's org/leader" in reason
        assert float(reason.split()[0]) >= sup.settings.scoring.near_copy_similarity
        assert failures["broken"] == [("sketch", "unreadable", stages.sketches["broken"])]
        board = {row["hotkey"]: row["score"] for row in sup.store.read.leaderboard(round_id)}
        assert board == pytest.approx({"leader": 0.8, "copier": 0.79, "honest": 0.5, "broken": 0.4})
    assert sorted(set(stages.evaluated)) == ["broken", "copier", "honest", "leader"]


def test_report_and_status_show_the_near_copy(round_setup: tuple[Any, SketchedStages]) -> None:
    sup, _ = round_setup
    round_id = sup.run_round()
    console = Console(record=True, width=200)
    render_report(console, sup.store.read.report(round_id))
    text = console.export_text()
    assert "near-copy" in text and "leader's org/leader" in text
    server = StatusServer("127.0.0.1", 0, status=lambda: status_payload(sup.store), alive=lambda: True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/status", timeout=5) as response:
            body = json.loads(response.read())
    finally:
        server.stop()
    shown = [(f["model"]["hotkey"], f["stage"], f["class"]) for f in body["recent_failures"]]
    assert ("copier", "dedupe", "near-copy") in shown and ("leader", "dedupe", "near-copy") not in shown
