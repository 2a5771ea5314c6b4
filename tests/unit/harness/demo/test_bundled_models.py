from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.demo.bundled_models import ensure_built, vlm_improved_name
from harness.settings.paths import bundled_dir


def test_smollm2_fixture_is_a_plain_hf_folder(smollm2: Path) -> None:
    names = {p.name for p in smollm2.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= names
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config
    assert "license: apache-2.0" in (smollm2 / "README.md").read_text()


def test_ensure_built_builds_once_and_leaves_no_staging(tmp_path: Path) -> None:
    calls: list[Path] = []

    def builder(out: Path, _cache: Path) -> None:
        calls.append(out)
        (out / "weights").write_text("x")

    first = ensure_built("toy", builder, tmp_path)
    second = ensure_built("toy", builder, tmp_path)
    assert first == second and (first / "weights").read_text() == "x"
    assert len(calls) == 1
    assert sorted(p.name for p in (tmp_path / "bundled").iterdir()) == ["toy", "toy.done", "toy.lock"]


def test_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken(out: Path, _cache: Path) -> None:
        (out / "half").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ensure_built("toy", broken, tmp_path)
    assert sorted(p.name for p in (tmp_path / "bundled").iterdir()) == ["toy.lock"]


def test_a_build_killed_mid_way_leaves_no_folder_behind_once_the_next_build_runs(tmp_path: Path) -> None:
    root = tmp_path / "bundled"
    killed = root / "toy.k1ll3d"  # what a SIGKILLed build leaves: its finally never ran
    killed.mkdir(parents=True)
    (killed / "half").write_text("x")
    (root / "toy-other.k1ll3d").mkdir()  # another model's staging is not this build's to remove
    ensure_built("toy", lambda out, _cache: (out / "weights").write_text("x"), tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["toy", "toy-other.k1ll3d", "toy.done", "toy.lock"]


def test_degraded_model_has_same_layout_but_different_weights(smollm2: Path, cache_dir: Path) -> None:
    from safetensors import safe_open

    from harness.demo.bundled_models import smollm2_degraded_dir

    degraded = smollm2_degraded_dir(cache_dir)
    assert sorted(p.name for p in degraded.iterdir()) == sorted(p.name for p in smollm2.iterdir())
    with (
        safe_open(str(smollm2 / "model.safetensors"), "pt") as real,
        safe_open(str(degraded / "model.safetensors"), "pt") as worse,
    ):
        assert sorted(real.keys()) == sorted(worse.keys())
        name = "model.layers.0.mlp.down_proj.weight"
        a, b = real.get_tensor(name), worse.get_tensor(name)
        assert a.shape == b.shape and a.dtype == b.dtype
        assert not bool((a == b).all())


@pytest.mark.slow  # the vlm fixture trains the demo VLM once per machine (minutes)
def test_vlm_is_a_vision_llava_folder_that_policy_allows(vlm: Path) -> None:
    import policies

    config = json.loads((vlm / "config.json").read_text())
    assert config["architectures"] == ["LlavaForConditionalGeneration"]
    assert config["vision_config"]["model_type"] == "clip_vision_model"
    names = {p.name for p in vlm.iterdir()}
    assert {"model.safetensors", "processor_config.json", "chat_template.jinja", "tokenizer.json"} <= names
    assert "<image>" in (vlm / "chat_template.jinja").read_text()
    report = policies.check_local(vlm)
    assert report.allowed, report.violations
    assert report.facts["vision"] is True


@pytest.mark.slow
def test_vlm_names_colours_and_shapes_above_chance_and_its_noised_copy_does_worse(vlm: Path, vlm_noised: Path) -> None:
    """Measured on held-out scenes (a seed training never used), through the served feature path."""
    import random

    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from harness.demo.vlm_train import slot_accuracy
    from harness.tasks.caption_gen import COLOURS, SHAPES

    processor = AutoProcessor.from_pretrained(str(vlm))
    accuracy = {}
    for name, folder in (("vlm", vlm), ("noised", vlm_noised)):
        model = LlavaForConditionalGeneration.from_pretrained(str(folder)).float().eval()
        accuracy[name] = slot_accuracy(model, processor, random.Random(424242), 128)
    assert accuracy["vlm"]["colour_slot_accuracy"] > 3 / len(COLOURS), accuracy
    # shapes are the hard part (docs/vlm.md): a wrong shape makes a whole group a wrong fact in a caption
    assert accuracy["vlm"]["shape_slot_accuracy"] > 2 / len(SHAPES), accuracy
    for kind in ("colour", "shape", "count"):
        assert accuracy["noised"][f"{kind}_slot_accuracy"] < accuracy["vlm"][f"{kind}_slot_accuracy"], accuracy


def test_noised_copy_changes_only_the_selected_matrices(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from harness.demo.bundled_models import noised_copy

    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    matrix = torch.arange(16.0).reshape(4, 4)  # noise scales with the spread: constant tensors would stay put
    tensors = {"vision_tower.w": matrix, "language_model.w": matrix.clone()}
    tensors["vision_tower.b"] = torch.arange(4.0)
    save_file(tensors, str(source / "model.safetensors"))
    (source / "config.json").write_text("{}")
    noised_copy(source, out, seed=1, scale=0.5, selects=lambda name: "vision_tower" in name)
    noised = load_file(str(out / "model.safetensors"))
    assert not torch.equal(noised["vision_tower.w"], tensors["vision_tower.w"])
    assert torch.equal(noised["language_model.w"], tensors["language_model.w"])
    assert torch.equal(noised["vision_tower.b"], tensors["vision_tower.b"])  # vectors (norms, biases) kept
    assert (out / "config.json").read_text() == "{}"


def test_share_built_gives_another_cache_the_finished_models_only(tmp_path: Path) -> None:
    """A second data dir on the machine (a fresh clone's harness-up) reuses a build instead of training again."""
    import os

    from harness.demo.bundled_models import share_built

    machine, clone = tmp_path / "machine", tmp_path / "clone"

    def build(out: Path, cache: Path) -> None:
        (out / "weights.bin").write_bytes(b"trained")

    built = ensure_built("model-a", build, machine)
    (bundled_dir(machine) / "model-a.metrics.json").write_text("{}")
    (bundled_dir(machine) / "half-built").mkdir()  # no .done marker: a build in progress or one that died
    assert share_built(machine, clone) == ["model-a"]
    assert share_built(machine, clone) == []  # already there
    copy = bundled_dir(clone) / "model-a"
    assert os.stat(copy / "weights.bin").st_ino == os.stat(built / "weights.bin").st_ino  # a hardlink, no copy
    assert (bundled_dir(clone) / "model-a.metrics.json").is_file()
    assert not (bundled_dir(clone) / "half-built").exists()

    def must_not_build(out: Path, cache: Path) -> None:
        raise AssertionError("the shared build should have been reused")

    assert ensure_built("model-a", must_not_build, clone) == copy
    names = sorted(p.name for p in bundled_dir(clone).iterdir())
    assert names == ["model-a", "model-a.done", "model-a.lock", "model-a.metrics.json"]  # no staging left


@pytest.mark.slow  # reuses the machine's builds (the fixtures), trains nothing new on a warm machine
def test_demo_build_prints_the_folders_the_fixtures_and_the_demo_use(
    cache_dir: Path, smollm2: Path, vlm: Path, vlm_noised: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from harness.cli.app import main

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache_dir))
    assert main(["demo", "build"]) == 0
    printed = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.strip().splitlines())
    assert printed["smollm2"] == str(smollm2)
    assert printed["vlm"] == str(vlm)
    assert printed["vlm-noised"] == str(vlm_noised)
    assert Path(printed["vlm-improved"]) == bundled_dir(cache_dir) / vlm_improved_name()  # built there, marked done
    assert (bundled_dir(cache_dir) / f"{vlm_improved_name()}.done").is_file()
    assert (bundled_dir(cache_dir) / f"{Path(printed['smollm2-degraded']).name}.done").is_file()
