"""The weight sketch on real safetensors files written here: deterministic, a noise copy within the near-copy
threshold and an unrelated model far from it, and hostile headers refused with a named error, never a crash."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from chain.commitment import Commitment
from harness.models.content_hash import model_hash
from harness.models.prepare import prepare_commitment
from harness.models.sketch import (
    SAMPLES_PER_TENSOR,
    ModelSketch,
    SketchError,
    compute_sketch,
    sample_positions,
    similarity,
    sketch_or_error,
)
from harness.settings.root import Settings
from policies.config import HubConfig, PolicyConfig
from scoring.config import ScoringConfig
from tests.support.hostile_hub import SHA, HostileHub
from tests.support.model_factory import write_tiny_model

THRESHOLD = ScoringConfig().near_copy_similarity
HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def weights(seed: int) -> dict[str, np.ndarray]:
    """A small Llama-shaped set of tensors (random, like trained weights in spread), float32 and bf16-free."""
    rng = np.random.default_rng(seed)
    tensors = {"model.embed_tokens.weight": rng.normal(0, 0.02, (512, 64)).astype(np.float32)}
    for i in range(3):
        tensors[f"model.layers.{i}.mlp.up_proj.weight"] = rng.normal(0, 0.05, (128, 64)).astype(np.float32)
        tensors[f"model.layers.{i}.self_attn.q_proj.weight"] = rng.normal(0, 0.05, (64, 64)).astype(np.float16)
        tensors[f"model.layers.{i}.input_layernorm.weight"] = (1 + rng.normal(0, 0.1, (64,))).astype(np.float32)
    return tensors


def noised(tensors: dict[str, np.ndarray], scale: float, seed: int = 99) -> dict[str, np.ndarray]:
    """Relative Gaussian noise on every matrix (scaled to its spread), as the project builds its noised copies."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, t in tensors.items():
        noise = rng.normal(0, 1, t.shape) * float(t.astype(np.float64).std()) * scale if t.ndim >= 2 else 0
        out[name] = (t.astype(np.float64) + noise).astype(t.dtype)
    return out


def write(folder: Path, tensors: dict[str, np.ndarray], shards: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(tensors)
    for i in range(shards):
        part = {n: tensors[n] for n in names[i::shards]}
        save_file(part, str(folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors"), metadata={"format": "pt"})
    return folder


def raw_file(path: Path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> Path:
    """A safetensors file with the header given verbatim (and optionally a lying length field)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def test_sketch_is_deterministic_and_independent_of_sharding(tmp_path: Path) -> None:
    tensors = weights(1)
    one = compute_sketch(write(tmp_path / "one", tensors)).to_bytes()
    assert compute_sketch(tmp_path / "one").to_bytes() == one
    assert compute_sketch(write(tmp_path / "three", tensors, shards=3)).to_bytes() == one
    restored = ModelSketch.from_bytes(one)
    assert [t.name for t in restored.tensors] == sorted(tensors)
    assert restored.tensors[0].values.size == SAMPLES_PER_TENSOR  # large tensors are sampled
    assert restored.tensors[1].values.size == 64  # a 64-element norm is read whole


def test_samples_are_the_values_at_the_seeded_positions(tmp_path: Path) -> None:
    tensors = weights(2)
    sketch = compute_sketch(write(tmp_path / "m", tensors))
    for sample in sketch.tensors:
        expected = tensors[sample.name].reshape(-1)[sample_positions(sample.name, sample.shape)]
        assert np.array_equal(sample.values, expected.astype(np.float32))
    other = sample_positions("model.layers.1.mlp.up_proj.weight", (128, 64))
    assert not np.array_equal(sample_positions("model.layers.0.mlp.up_proj.weight", (128, 64)), other)


def test_bf16_is_decoded(tmp_path: Path) -> None:
    values = np.linspace(-2, 2, 300, dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()  # truncation: exact for these values' top bits
    header = {"w": {"dtype": "BF16", "shape": [300], "data_offsets": [0, 600]}}
    raw_file(tmp_path / "m" / "model.safetensors", header, bf16)
    (sample,) = compute_sketch(tmp_path / "m").tensors
    expected = (np.frombuffer(bf16, "<u2").astype(np.uint32) << 16).view(np.float32)
    assert np.array_equal(sample.values, expected[sample_positions("w", (300,))])


def test_noise_copy_is_within_the_threshold_and_an_unrelated_model_is_not(tmp_path: Path) -> None:
    base = weights(3)
    original = compute_sketch(write(tmp_path / "original", base))
    copy = compute_sketch(write(tmp_path / "copy", noised(base, 0.02)))
    far = compute_sketch(write(tmp_path / "far", noised(base, 0.6)))
    unrelated = compute_sketch(write(tmp_path / "unrelated", weights(4)))
    assert similarity(original, copy).value >= THRESHOLD
    assert similarity(original, far).value < THRESHOLD
    assert abs(similarity(original, unrelated).value) < 0.3
    assert similarity(original, original).value == pytest.approx(1.0)


def test_a_wrapped_language_model_is_compared_with_the_bare_one(tmp_path: Path) -> None:
    base = weights(5)
    wrapped = {f"language_model.{n}": t for n, t in base.items()}
    wrapped["vision_tower.proj.weight"] = np.ones((8, 8), dtype=np.float32)
    found = similarity(compute_sketch(write(tmp_path / "a", base)), compute_sketch(write(tmp_path / "b", wrapped)))
    assert found.value == pytest.approx(1.0) and found.shared_tensors == len(base)


def test_nothing_shared_is_zero(tmp_path: Path) -> None:
    a = compute_sketch(write(tmp_path / "a", {"x": np.arange(100, dtype=np.float32)}))
    b = compute_sketch(write(tmp_path / "b", {"y": np.arange(100, dtype=np.float32)}))
    c = compute_sketch(write(tmp_path / "c", {"x": np.arange(99, dtype=np.float32)}))  # same name, other shape
    constant = compute_sketch(write(tmp_path / "d", {"x": np.ones(100, dtype=np.float32)}))
    assert similarity(a, b).value == 0.0 and similarity(a, c).value == 0.0
    assert similarity(a, constant).value == 0.0  # a constant tensor is no evidence either way


@pytest.mark.parametrize(
    ("header", "length", "data", "message"),
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 1 << 40, b"\0" * 16, "exceeds the cap"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, None, b"\0" * 8, "file holds"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, None, b"\0" * 16, "gap of 8"),
        ({"w": {"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]}}, None, b"\0" * 16, "unknown dtype"),
        ({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, None, b"\0" * 16, "non-negative"),
        (b"\xff not json", None, b"", "not valid UTF-8 JSON"),
    ],
)
def test_hostile_headers_are_named_errors(
    tmp_path: Path, header: dict | bytes, length: int | None, data: bytes, message: str
) -> None:
    raw_file(tmp_path / "m" / "model.safetensors", header, data, length)
    with pytest.raises(SketchError, match=message):
        compute_sketch(tmp_path / "m")
    sketch, error = sketch_or_error(tmp_path / "m")
    assert sketch is None and error is not None and "model.safetensors" in error and message in error


def test_a_tensor_named_twice_across_shards_is_refused(tmp_path: Path) -> None:
    save_file({"w": np.zeros(4, np.float32)}, str(tmp_path / "a.safetensors"))
    save_file({"language_model.w": np.zeros(4, np.float32)}, str(tmp_path / "b.safetensors"))
    with pytest.raises(SketchError, match="appears twice"):
        compute_sketch(tmp_path)


def test_a_stored_sketch_that_is_not_one_is_refused() -> None:
    with pytest.raises(SketchError):
        ModelSketch.from_bytes(b"HSK1\xff\xff\xff\xff")
    with pytest.raises(SketchError):
        ModelSketch.from_bytes(b"nope")


def test_integer_tensors_are_skipped_and_a_model_without_floats_has_an_empty_sketch(tmp_path: Path) -> None:
    write(tmp_path / "m", {"ids": np.arange(10, dtype=np.int64), "w": np.arange(10, dtype=np.float32)})
    assert [t.name for t in compute_sketch(tmp_path / "m").tensors] == ["w"]
    assert compute_sketch(tmp_path / "empty").tensors == ()


def test_the_prepare_stage_sketches_the_fetched_files(tmp_path: Path) -> None:
    honest = write_tiny_model(tmp_path / "honest")
    files = sorted(p.name for p in honest.iterdir())
    commitment = Commitment("org", "fine", SHA, model_hash(honest, files, HOTKEY))
    settings = Settings(
        cache_dir=tmp_path / "cache",
        hub=HubConfig(endpoint="http://unused", attempts=1, timeout_s=5.0, retry_wait_s=0.01),
        policy=PolicyConfig(check_deadline_s=20.0),
    )
    with HostileHub("two-faced", folder=honest) as hub:
        settings = settings.model_copy(update={"hub": settings.hub.model_copy(update={"endpoint": hub.url})})
        prepared = prepare_commitment(commitment, HOTKEY, settings)
    assert prepared.sketch_error is None and prepared.sketch is not None
    assert ModelSketch.from_bytes(prepared.sketch).to_bytes() == compute_sketch(honest).to_bytes()
