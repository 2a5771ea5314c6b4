"""A small, seeded sketch of a fetched model's weights, and the similarity of two sketches (near-copy signal).

Why: exact copies are caught by content identity, but a copier who adds noise far below what changes the
answers has new content. Such a copy keeps almost every weight where it was, so a few dozen values read at the
same seeded positions of each tensor correlate almost perfectly with the original's, while an unrelated model's
do not correlate at all. The sketch is that sample; it never loads a framework model and never reads a whole
file: each safetensors header is parsed and validated (`policies.safetensors_header`, length capped before
anything is read), then `SAMPLES_PER_TENSOR` elements per tensor are read with `os.pread` at positions drawn from
a PCG64 stream seeded by (`SKETCH_SEED`, canonical tensor name, shape). Every validator computes the same sketch
from the same bytes (the positions depend on nothing else; PCG64's raw stream is stable across numpy versions).

Similarity (`similarity`): over tensors present in both sketches with equal shape, the parameter-count-weighted
mean of the per-tensor Pearson correlation of the sampled values (the cosine of the centred samples); tensors
whose sample is constant in either model (a freshly initialised norm) carry no evidence and are left out; 0 when
nothing informative is shared. Correlation ignores a tensor's scale and offset, which a copier can change
without changing the function (q scaled up, k down). It is a *signal*: fine-tunes of one base are close too
(docs/scoring.md, "Near-copy sketch", has the measurements and what the sketch does not do).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.safetensors_header import HeaderError, SafetensorsHeader, TensorInfo, read_header

SKETCH_VERSION = 1
SKETCH_SEED = "harness-sketch-v1"
SAMPLES_PER_TENSOR = 64  # 8B Llama: 291 tensors x 64 x 4 bytes = ~75 KB
MAX_TENSORS = 65_536  # beyond any real checkpoint; a header listing more is refused, not sampled
MAX_FILES = 1_024
MAX_HEADER_BYTES = 16 * 1024 * 1024  # the policy's default cap; `compute_sketch` takes the configured one
COALESCE_GAP_BYTES = 4_096  # sampled elements closer than this are read in one pread
MAGIC = b"HSK1"

# Bytes per element of the dtypes that are sampled; others (integers, packed quantised types) are skipped.
FLOAT_DTYPES: dict[str, int] = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}

# Wrappers that put a language model inside another architecture (Llava: `language_model.model.layers.0...`,
# newer transformers: `model.language_model.layers.0...`); their tensors are compared with the bare model's.
WRAPPER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("model.language_model.", "model."),
    ("language_model.", ""),
)


class SketchError(ValueError):
    """The fetched files cannot be sketched (a malformed or absurd header); the message says what and where."""


@dataclass(frozen=True)
class TensorSample:
    """One tensor's sampled values (float32, non-finite values read as 0) under its canonical name."""

    name: str
    shape: tuple[int, ...]
    values: np.ndarray

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ModelSketch:
    """A model's sketch: samples of its floating-point tensors, sorted by canonical name (a few KB to ~100 KB)."""

    tensors: tuple[TensorSample, ...]
    version: int = SKETCH_VERSION

    def to_bytes(self) -> bytes:
        """`MAGIC` + u32 index length + JSON index (version, names, shapes, counts) + the float32 samples."""
        index = {
            "version": self.version,
            "tensors": [[t.name, list(t.shape), int(t.values.size)] for t in self.tensors],
        }
        raw = json.dumps(index, separators=(",", ":")).encode()
        data = b"".join(np.ascontiguousarray(t.values, dtype="<f4").tobytes() for t in self.tensors)
        return MAGIC + struct.pack("<I", len(raw)) + raw + data

    @classmethod
    def from_bytes(cls, blob: bytes) -> ModelSketch:
        """The sketch `to_bytes` wrote; anything else is a `SketchError` (a stored row is checked, not trusted)."""
        if len(blob) < 8 or blob[:4] != MAGIC:
            raise SketchError("not a model sketch (bad magic)")
        (n,) = struct.unpack("<I", blob[4:8])
        if 8 + n > len(blob):
            raise SketchError("sketch index runs past the end")
        try:
            index = json.loads(blob[8 : 8 + n])
            version = int(index["version"])
            entries = [(str(name), tuple(int(d) for d in shape), int(count)) for name, shape, count in index["tensors"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise SketchError(f"sketch index unreadable ({type(exc).__name__})") from None
        values = np.frombuffer(blob, dtype="<f4", offset=8 + n)
        if sum(count for _, _, count in entries) != values.size:
            raise SketchError("sketch data does not match its index")
        tensors, cursor = [], 0
        for name, shape, count in entries:
            tensors.append(TensorSample(name, shape, values[cursor : cursor + count].astype(np.float32)))
            cursor += count
        return cls(tuple(tensors), version)

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors)


@dataclass(frozen=True)
class Similarity:
    """How alike two sketches are: `value` (see the module doc), the number of informative shared tensors and
    the fraction of the larger model's sketched parameters they hold (`coverage`)."""

    value: float
    shared_tensors: int
    coverage: float


def canonical_name(name: str) -> str:
    """The tensor's name with a known multimodal wrapper prefix removed (see `WRAPPER_PREFIXES`)."""
    for prefix, replacement in WRAPPER_PREFIXES:
        if name.startswith(prefix):
            return replacement + name[len(prefix) :]
    return name


def sample_positions(name: str, shape: tuple[int, ...], count: int = SAMPLES_PER_TENSOR) -> np.ndarray:
    """Sorted flat element indices to sample: all of a small tensor, else `count` drawn (with replacement) from
    a PCG64 raw stream seeded by the sketch seed, the canonical name and the shape."""
    numel = math.prod(shape)
    if numel <= count:
        return np.arange(numel, dtype=np.int64)
    key = f"{SKETCH_SEED}|{name}|{','.join(map(str, shape))}".encode()
    seed = int.from_bytes(hashlib.sha256(key).digest()[:16], "little")
    raw = np.random.PCG64(seed).random_raw(count)
    return np.sort((raw % np.uint64(numel)).astype(np.int64))


def _decode(buffer: bytes, dtype: str) -> np.ndarray:
    if dtype == "BF16":
        return (np.frombuffer(buffer, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    if dtype == "F16":
        return np.frombuffer(buffer, dtype="<f2").astype(np.float32)
    if dtype == "F32":
        return np.frombuffer(buffer, dtype="<f4").copy()
    return np.frombuffer(buffer, dtype="<f8").astype(np.float32)


def read_elements(fd: int, data_start: int, tensor: TensorInfo, positions: np.ndarray) -> np.ndarray:
    """The elements at `positions` (sorted) of one tensor, decoded to float32; nearby elements share one pread."""
    size = FLOAT_DTYPES[tensor.dtype]
    base = data_start + tensor.begin
    out = np.empty(positions.size, dtype=np.float32)
    start = 0
    while start < positions.size:
        stop = start + 1
        while stop < positions.size and (positions[stop] - positions[stop - 1]) * size <= COALESCE_GAP_BYTES:
            stop += 1
        first, last = int(positions[start]), int(positions[stop - 1])
        length = (last - first + 1) * size
        chunk = os.pread(fd, length, base + first * size)
        if len(chunk) != length:
            raise SketchError(f"tensor {tensor.name!r}: file ended while reading its data")
        run = _decode(chunk, tensor.dtype)
        out[start:stop] = run[positions[start:stop] - first]
        start = stop
    out[~np.isfinite(out)] = 0.0
    return out


def safetensors_files(model_dir: Path) -> list[Path]:
    """The model's safetensors files, sorted by relative path (never filesystem order)."""
    files = sorted(
        (p for p in model_dir.rglob("*.safetensors") if p.is_file()),
        key=lambda p: p.relative_to(model_dir).as_posix(),
    )
    if len(files) > MAX_FILES:
        raise SketchError(f"{len(files)} safetensors files exceed the cap of {MAX_FILES}")
    return files


def _header(fd: int, size: int, path: Path, max_header_bytes: int) -> SafetensorsHeader:
    def read_range(start: int, length: int) -> bytes:
        return os.pread(fd, length, start)

    try:
        header = read_header(read_range, size, max_header_bytes)
    except HeaderError as exc:
        raise SketchError(f"{path.name}: {exc}") from None
    if len(header.tensors) > MAX_TENSORS:
        raise SketchError(f"{path.name}: {len(header.tensors)} tensors exceed the cap of {MAX_TENSORS}")
    return header


def sketch_files(paths: Iterable[Path], *, max_header_bytes: int = MAX_HEADER_BYTES) -> ModelSketch:
    """The sketch of the floating-point tensors in `paths` (safetensors files); a malformed or absurd header,
    or a tensor name found twice (after canonicalisation), is a `SketchError`."""
    samples: dict[str, TensorSample] = {}
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            header = _header(fd, size, path, max_header_bytes)
            data_start = 8 + header.header_len
            for tensor in sorted(header.tensors, key=lambda t: t.name):
                if tensor.dtype not in FLOAT_DTYPES or tensor.numel == 0:
                    continue
                name = canonical_name(tensor.name)
                if name in samples:
                    raise SketchError(f"{path.name}: tensor {name!r} appears twice in the model")
                positions = sample_positions(name, tensor.shape)
                samples[name] = TensorSample(name, tensor.shape, read_elements(fd, data_start, tensor, positions))
                if len(samples) > MAX_TENSORS:
                    raise SketchError(f"more than {MAX_TENSORS} tensors in the model")
        finally:
            os.close(fd)
    return ModelSketch(tuple(samples[n] for n in sorted(samples)))


def compute_sketch(model_dir: Path, *, max_header_bytes: int = MAX_HEADER_BYTES) -> ModelSketch:
    """The sketch of a fetched model folder (every `*.safetensors` under it, in sorted order)."""
    return sketch_files(safetensors_files(model_dir), max_header_bytes=max_header_bytes)


def sketch_or_error(model_dir: Path, *, max_header_bytes: int = MAX_HEADER_BYTES) -> tuple[bytes | None, str | None]:
    """For the prepare stage: the serialised sketch, or why there is none. A sketch that cannot be made never
    stops a model's evaluation (it only loses the near-copy signal), so its failure is returned, not raised."""
    try:
        return compute_sketch(model_dir, max_header_bytes=max_header_bytes).to_bytes(), None
    except SketchError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"could not read the model files: {type(exc).__name__}: {exc.strerror or exc}"


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two samples; None when either is constant (no evidence either way)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    nx, ny = float(np.sqrt(x @ x)), float(np.sqrt(y @ y))
    if nx == 0.0 or ny == 0.0 or not math.isfinite(nx * ny):
        return None
    return float(np.clip((x @ y) / (nx * ny), -1.0, 1.0))


def similarity(a: ModelSketch, b: ModelSketch) -> Similarity:
    """The parameter-weighted mean per-tensor correlation over tensors both sketches hold with the same shape
    (see the module doc); 0 when they share no informative tensor or were made by different sketch versions."""
    if a.version != b.version:
        return Similarity(0.0, 0, 0.0)
    theirs = {t.name: t for t in b.tensors}
    total = weight = 0.0
    shared = 0
    for mine in a.tensors:
        other = theirs.get(mine.name)
        if other is None or other.shape != mine.shape or other.values.size != mine.values.size:
            continue
        r = _correlation(mine.values, other.values)
        if r is None:
            continue
        total += mine.numel * r
        weight += mine.numel
        shared += 1
    if weight == 0:
        return Similarity(0.0, 0, 0.0)
    return Similarity(total / weight, shared, weight / max(a.parameters, b.parameters))


@dataclass(frozen=True)
class NearestEarlier:
    """The earlier model most like the new one: its label (who and which repo) and the similarity."""

    label: str
    similarity: Similarity


def nearest(sketch: ModelSketch, earlier: Iterable[tuple[str, bytes]]) -> NearestEarlier | None:
    """The most similar of `earlier` (label, stored sketch) pairs, ties to the first; unreadable rows skipped."""
    best: NearestEarlier | None = None
    for label, blob in earlier:
        try:
            other = ModelSketch.from_bytes(blob)
        except SketchError:
            continue
        found = similarity(sketch, other)
        if best is None or found.value > best.similarity.value:
            best = NearestEarlier(label, found)
    return best
