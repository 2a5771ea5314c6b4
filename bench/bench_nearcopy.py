"""The near-copy sketch (`harness.models.sketch`): its cost on an 8B-shaped model, and how well its similarity
separates noise copies from fine-tunes and from unrelated models.

- `sketch_8b`: four sparse safetensors shards (os.truncate: ~16 GB apparent, no disk used) with Llama-3-8B's
  tensor names and shapes in BF16; the sketch is timed (header parse + sampled reads). A hole reads as zeros from
  the page cache, so the time is the sketch's own cost; the pread count and bytes read say what a cold disk adds.
- `noise`: SmolLM2 (bundled) against copies with seeded relative Gaussian noise on every weight matrix
  (`harness.demo.bundled_models.noised_copy`, the way the project builds its noised models).
- `finetunes`: two fine-tunes of SmolLM2 on two different small text sets (AdamW at a typical fine-tuning rate,
  a few dozen steps on the CPU), against each other and against the base.
- `unrelated`: SmolLM2 against a freshly initialised model of its config.
- `demo` (when the demo VLM is built): SmolLM2 against the VLM's language part (SmolLM2 frozen inside a Llava
  wrapper, so a near-copy by construction), and the demo's noised VLM (vision tower noised) against the VLM.
Each pair reports several candidate aggregates so the chosen one (`weighted`, see the module) can be compared.
HARNESS_BENCH_FT_STEPS sizes the fine-tunes (default 12: about 35-80 s each on two shared cores).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.models.sketch import (
    SAMPLES_PER_TENSOR,
    ModelSketch,
    compute_sketch,
    safetensors_files,
    sample_positions,
    similarity,
)

NOISE_LEVELS = (0.005, 0.02, 0.05, 0.2, 0.6)
NOISE_SEED = 20260101

LLAMA3_8B = {"vocab": 128256, "hidden": 4096, "layers": 32, "kv": 1024, "ffn": 14336}


def llama3_8b_tensors() -> dict[str, tuple[str, list[int]]]:
    """Llama-3-8B's tensor names and shapes (BF16), as its checkpoint lists them."""
    v, h, kv, f = LLAMA3_8B["vocab"], LLAMA3_8B["hidden"], LLAMA3_8B["kv"], LLAMA3_8B["ffn"]
    tensors: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": ("BF16", [v, h])}
    for i in range(LLAMA3_8B["layers"]):
        p = f"model.layers.{i}."
        tensors[p + "input_layernorm.weight"] = ("BF16", [h])
        tensors[p + "post_attention_layernorm.weight"] = ("BF16", [h])
        tensors[p + "self_attn.q_proj.weight"] = ("BF16", [h, h])
        tensors[p + "self_attn.k_proj.weight"] = ("BF16", [kv, h])
        tensors[p + "self_attn.v_proj.weight"] = ("BF16", [kv, h])
        tensors[p + "self_attn.o_proj.weight"] = ("BF16", [h, h])
        tensors[p + "mlp.gate_proj.weight"] = ("BF16", [f, h])
        tensors[p + "mlp.up_proj.weight"] = ("BF16", [f, h])
        tensors[p + "mlp.down_proj.weight"] = ("BF16", [h, f])
    tensors["model.norm.weight"] = ("BF16", [h])
    tensors["lm_head.weight"] = ("BF16", [v, h])
    return tensors


def _count_reads(sketch_dir: Path) -> tuple[int, int]:
    """How many preads the sketch makes and how many bytes they read (the same coalescing rule)."""
    from harness.models.sketch import COALESCE_GAP_BYTES, FLOAT_DTYPES, canonical_name
    from policies.safetensors_header import read_header

    reads = nbytes = 0
    for path in safetensors_files(sketch_dir):
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = read_header(lambda s, n, fd=fh.fileno(): os.pread(fd, n, s), size, 1 << 24)
        reads += 2
        nbytes += 8 + header.header_len
        for t in header.tensors:
            item = FLOAT_DTYPES[t.dtype]
            pos = sample_positions(canonical_name(t.name), t.shape)
            runs = 1 + int(np.count_nonzero(np.diff(pos) * item > COALESCE_GAP_BYTES))
            reads += runs
            breaks = np.flatnonzero(np.diff(pos) * item > COALESCE_GAP_BYTES)
            starts = np.concatenate(([0], breaks + 1))
            ends = np.concatenate((breaks, [pos.size - 1]))
            nbytes += int(((pos[ends] - pos[starts] + 1) * item).sum())
    return reads, nbytes


def sketch_8b(root: Path) -> dict[str, Any]:
    from tests.support.model_factory import write_sparse_safetensors

    tensors = llama3_8b_tensors()
    names = list(tensors)
    shards = [names[i::4] for i in range(4)]  # order inside a shard does not matter to the sketch
    apparent = 0
    for i, shard in enumerate(shards):
        path = root / f"model-{i + 1:05d}-of-00004.safetensors"
        apparent += write_sparse_safetensors(path, {n: tensors[n] for n in shard})
    times = []
    sketch = None
    for _ in range(5):
        started = time.perf_counter()
        sketch = compute_sketch(root)
        times.append(time.perf_counter() - started)
    assert sketch is not None
    reads, nbytes = _count_reads(root)
    return {
        "apparent_bytes": apparent,
        "disk_bytes": sum(os.stat(p).st_blocks * 512 for p in root.glob("*.safetensors")),
        "tensors": len(sketch.tensors),
        "parameters": sketch.parameters,
        "sketch_bytes": len(sketch.to_bytes()),
        "samples_per_tensor": SAMPLES_PER_TENSOR,
        "seconds_median": round(statistics.median(times), 4),
        "seconds_runs": [round(t, 4) for t in times],
        "preads": reads,
        "bytes_read": nbytes,
    }


def aggregates(a: ModelSketch, b: ModelSketch) -> dict[str, Any]:
    """The chosen similarity and the candidate aggregates it was picked from."""
    theirs = {t.name: t for t in b.tensors}
    corr, cos, weights = [], [], []
    for t in a.tensors:
        o = theirs.get(t.name)
        if o is None or o.shape != t.shape:
            continue
        x, y = t.values.astype(np.float64), o.values.astype(np.float64)
        nx, ny = np.linalg.norm(x), np.linalg.norm(y)
        if nx and ny:
            cos.append(float(x @ y / (nx * ny)))
        x, y = x - x.mean(), y - y.mean()
        nx, ny = np.linalg.norm(x), np.linalg.norm(y)
        if nx and ny:
            corr.append(float(x @ y / (nx * ny)))
            weights.append(t.numel)
    chosen = similarity(a, b)
    return {
        "weighted": round(chosen.value, 6),
        "coverage": round(chosen.coverage, 4),
        "shared_tensors": chosen.shared_tensors,
        "uniform_mean": round(float(np.mean(corr)), 6) if corr else 0.0,
        "median": round(float(np.median(corr)), 6) if corr else 0.0,
        "min": round(float(np.min(corr)), 6) if corr else 0.0,
        "uncentred_cosine_mean": round(float(np.mean(cos)), 6) if cos else 0.0,
    }


def noise_copies(base: Path, root: Path, base_sketch: ModelSketch) -> dict[str, Any]:
    from harness.demo.bundled_models import noised_copy

    out: dict[str, Any] = {}
    for scale in NOISE_LEVELS:
        folder = root / f"noise-{scale}"
        folder.mkdir()
        noised_copy(base, folder, NOISE_SEED, scale, lambda _name: True)
        out[f"{scale:.3f}"] = aggregates(base_sketch, compute_sketch(folder)) | {
            "expected_1_over_sqrt_1_plus_s2": round(1 / (1 + scale**2) ** 0.5, 6)
        }
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()
    return out


def _texts(which: str) -> list[str]:
    """Two different small text sets available offline: Python's help topics, and numpy's docstrings."""
    if which == "a":
        from pydoc_data.topics import topics

        return [topics[k] for k in sorted(topics)][:200]
    docs = [getattr(np, name).__doc__ for name in sorted(dir(np))]
    return [d for d in docs if isinstance(d, str) and len(d) > 200][:200]


def finetune(base: Path, out: Path, which: str, steps: int, seed: int) -> dict[str, Any]:
    """A short AdamW fine-tune (lr 2e-5, batch 2 x 64 tokens) of SmolLM2 on one text set, saved as BF16."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    model.train()
    ids = tokenizer("\n\n".join(_texts(which)), return_tensors="pt").input_ids[0]
    seq, batch = 64, 2
    windows = ids[: (ids.numel() // seq) * seq].view(-1, seq)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    started = time.perf_counter()
    for _ in range(steps):
        pick = windows[torch.randint(0, windows.shape[0], (batch,), generator=generator)]
        loss = model(input_ids=pick, labels=pick).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - started
    out.mkdir()
    for item in base.iterdir():
        if item.name != "model.safetensors":
            shutil.copy2(item, out / item.name)
    keep = set(load_file(str(base / "model.safetensors")))
    state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items() if k in keep}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return {
        "text_set": which,
        "steps": steps,
        "seconds": round(seconds, 1),
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


def fresh_model(base: Path, out: Path, seed: int) -> None:
    """A freshly initialised model of SmolLM2's config (seeded), saved as BF16."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(base)), dtype=torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)


def run() -> dict[str, Any]:
    from harness.demo.bundled_models import smollm2_dir, vlm_name
    from harness.settings.paths import bundled_dir
    from harness.settings.root import Settings

    cache = Settings().cache_dir
    steps = int(os.environ.get("HARNESS_BENCH_FT_STEPS", "12"))
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-nearcopy-") as tmp:
        root = Path(tmp)
        (root / "8b").mkdir()
        result["sketch_8b"] = sketch_8b(root / "8b")
        base = smollm2_dir(cache)
        started = time.perf_counter()
        base_sketch = compute_sketch(base)
        result["smollm2_sketch"] = {
            "seconds": round(time.perf_counter() - started, 4),
            "tensors": len(base_sketch.tensors),
            "sketch_bytes": len(base_sketch.to_bytes()),
            "deterministic": compute_sketch(base).to_bytes() == base_sketch.to_bytes(),
        }
        result["noise"] = noise_copies(base, root, base_sketch)
        runs = {w: finetune(base, root / f"ft-{w}", w, steps, seed=7 + i) for i, w in enumerate("ab")}
        ft_a, ft_b = compute_sketch(root / "ft-a"), compute_sketch(root / "ft-b")
        result["finetunes"] = {
            "runs": runs,
            "a_vs_base": aggregates(base_sketch, ft_a),
            "b_vs_base": aggregates(base_sketch, ft_b),
            "a_vs_b": aggregates(ft_a, ft_b),
        }
        fresh_model(base, root / "fresh", seed=11)
        unrelated: dict[str, Any] = {"fresh_init_same_config": aggregates(base_sketch, compute_sketch(root / "fresh"))}
        result["unrelated"] = unrelated
        bundled = bundled_dir(cache)
        if (bundled / f"{vlm_name()}.done").is_file():  # the demo's models, when built (never built here)
            vlm = compute_sketch(bundled / vlm_name())
            noised = sorted(bundled.glob(f"{vlm_name()}-noised-*[0-9]"))
            result["demo"] = {"vlm_language_part_vs_smollm2": aggregates(base_sketch, vlm)}
            if noised:
                result["demo"]["vlm_noised_vs_vlm"] = aggregates(vlm, compute_sketch(noised[-1]))
    return result
