"""The improved demo VLM's training: what it may change, and the cache key that rebuilds it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.demo.vlm_improve import IMPROVE_RECIPE, build_improved, improve_digest


def test_cache_key_follows_the_further_training_recipe() -> None:
    assert improve_digest() == improve_digest()
    assert improve_digest(dataclasses.replace(IMPROVE_RECIPE, steps=IMPROVE_RECIPE.steps + 1)) != improve_digest()
    assert improve_digest(dataclasses.replace(IMPROVE_RECIPE, seed=IMPROVE_RECIPE.seed + 1)) != improve_digest()


@pytest.mark.slow  # assembles, saves and trains a real 135M-parameter Llava (15-90 s measured on 2 shared cores)
def test_build_changes_the_tower_and_projector_input_only_and_keeps_the_base_files(
    smollm2: Path, tmp_path: Path
) -> None:
    """The language model and the projector's word layer stay the base's (the tower must keep speaking in the
    frozen SmolLM2's input embeddings, and the tool-call answers must stay SmolLM2's: they tie in a round), and
    every file but the weights is the base's byte for byte (what the engine is configured by)."""
    import torch
    from safetensors.torch import load_file

    from harness.demo.vlm_train import assemble, build_processor, slot_vocabulary

    base, out = tmp_path / "base", tmp_path / "out"
    out.mkdir()
    processor = build_processor(smollm2)
    model = assemble(smollm2, processor).to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(base)
    processor.save_pretrained(base)
    (base / "README.md").write_text("# tiny (harness demo VLM)\n")
    tiny = dataclasses.replace(IMPROVE_RECIPE, steps=2, train_scenes=4, batch=2, held_out=4)
    metrics = build_improved(out, base, tiny)

    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in base.iterdir())
    for item in sorted(base.iterdir()):
        if item.name not in ("model.safetensors", "README.md"):
            assert (out / item.name).read_bytes() == item.read_bytes(), item.name
    assert "trained further" in (out / "README.md").read_text()
    before, after = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert sorted(before) == sorted(after)
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert any("vision_tower" in name for name in moved), moved
    assert all("vision_tower" in name or "multi_modal_projector.linear_1" in name for name in moved), moved
    classes = len(slot_vocabulary(processor.tokenizer))
    linear_1 = next(after[name] for name in after if name.endswith("multi_modal_projector.linear_1.weight"))
    assert not linear_1[classes:].any()  # the projector's unused units stay silent
    assert after[next(n for n in after if "vision_tower" in n)].dtype == torch.bfloat16
    assert {"shape_slot_accuracy", "colour_slot_accuracy", "count_slot_accuracy", "train_seconds"} <= set(metrics)
