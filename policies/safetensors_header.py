"""Parse and validate a safetensors header without touching tensor data.

A safetensors file is `u64 little-endian N` + `N bytes of JSON` + data. Everything a policy needs (parameter
count, dtypes, layout sanity) is in the header, so a check of a 100 GB model costs two small reads. The
length field is validated against a cap *before* anything is read or allocated: a hostile `N = 2**40` costs
one comparison.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from policies import jsonbound

# Bits per element; sub-byte types (F4, F6) are packed, so sizes are computed in bits.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip


# Bounds checked while parsing, before any arithmetic: a dimension or offset is a u64 in the format, so no integer
# of more than 20 digits is read at all (`int()` on thousands of digits is quadratic, and over 4,300 it raises,
# also when a message formats it); a tensor has at most MAX_NDIM dimensions, so a shape's product is cheap.
MAX_INT_DIGITS = 20
MAX_U64 = 2**64 - 1
MAX_NDIM = 16
HEADER_DEPTH = 4  # {name: {"shape": [...]}} and {"__metadata__": {...}}: 3 levels
MAX_NAME_CHARS = 120  # of a tensor name quoted in a message


def _quote(name: str) -> str:
    return repr(name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS] + "...")


class HeaderError(ValueError):
    """The file is not a well-formed safetensors file; the message says what is wrong."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class SafetensorsHeader:
    """A validated header: tensors sorted by data offset, and the header's `__metadata__`."""

    header_len: int
    tensors: list[TensorInfo] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def dtypes(self) -> set[str]:
        return {t.dtype for t in self.tensors}

    def tensor(self, name: str) -> TensorInfo | None:
        return next((t for t in self.tensors if t.name == name), None)


def header_length(prefix: bytes, file_size: int, max_header_bytes: int) -> int:
    """The declared header length from the first 8 bytes, refused when absurd (before any allocation)."""
    if len(prefix) < 8 or file_size < 8:
        raise HeaderError(f"file too short for a safetensors header ({file_size} bytes)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > max_header_bytes:
        raise HeaderError(f"header length {n} exceeds the cap of {max_header_bytes} bytes")
    if n < 2:
        raise HeaderError(f"header length {n} is too small for a JSON object")
    if 8 + n > file_size:
        raise HeaderError(f"header length {n} runs past the end of the file ({file_size} bytes)")
    return n


def parse_header(raw: bytes, header_len: int, file_size: int) -> SafetensorsHeader:
    """Validate the JSON header against the safetensors rules and the real file size."""
    if len(raw) != header_len:
        raise HeaderError(f"header truncated: read {len(raw)} of {header_len} bytes")
    try:
        doc = jsonbound.loads(raw, max_depth=HEADER_DEPTH, max_int_digits=MAX_INT_DIGITS)
    except jsonbound.JsonLimitError as exc:
        raise HeaderError(f"header is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HeaderError("header JSON is not an object")
    result = SafetensorsHeader(header_len=header_len)
    meta = doc.pop("__metadata__", None)
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise HeaderError("__metadata__ must map strings to strings")
        result.metadata = meta
    for name, entry in doc.items():
        result.tensors.append(_tensor(name, entry))
    result.tensors.sort(key=lambda t: (t.begin, t.end))
    _check_layout(result.tensors, data_len=file_size - 8 - header_len)
    return result


def _tensor(name: str, entry: object) -> TensorInfo:
    shown = _quote(name)
    if not isinstance(entry, dict):
        raise HeaderError(f"tensor {shown}: entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise HeaderError(f"tensor {shown}: unknown dtype {_quote(dtype) if isinstance(dtype, str) else 'missing'}")
    if not isinstance(shape, list) or not all(type(d) is int and 0 <= d <= MAX_U64 for d in shape):
        raise HeaderError(f"tensor {shown}: shape must be a list of non-negative integers under 2**64")
    if len(shape) > MAX_NDIM:
        raise HeaderError(f"tensor {shown}: {len(shape)} dimensions (limit {MAX_NDIM})")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and 0 <= o <= MAX_U64 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise HeaderError(f"tensor {shown}: data_offsets must be [begin, end] with 0 <= begin <= end")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8:
        raise HeaderError(f"tensor {shown}: {dtype} shape {shape} is not a whole number of bytes")
    if offsets[1] - offsets[0] != bits // 8:
        raise HeaderError(
            f"tensor {shown}: {dtype}{shape} needs {bits // 8} bytes but data_offsets span {offsets[1] - offsets[0]}"
        )
    return TensorInfo(name=name, dtype=dtype, shape=tuple(shape), begin=offsets[0], end=offsets[1])


def _check_layout(tensors: list[TensorInfo], data_len: int) -> None:
    """Tensors must tile the data section exactly: no overlap, no gap, nothing past or short of the end."""
    cursor = 0
    for t in tensors:
        if t.begin < cursor:
            raise HeaderError(f"tensor {_quote(t.name)} overlaps the previous tensor (offset {t.begin} < {cursor})")
        if t.begin > cursor:
            raise HeaderError(f"gap of {t.begin - cursor} bytes before tensor {_quote(t.name)}")
        cursor = t.end
    if cursor != data_len:
        raise HeaderError(f"tensors cover {cursor} data bytes but the file holds {data_len}")


def read_header(read_range: Callable[[int, int], bytes], file_size: int, max_header_bytes: int) -> SafetensorsHeader:
    """Two reads: the 8-byte length, then exactly the header. `read_range(start, length)` returns bytes."""
    n = header_length(read_range(0, 8), file_size, max_header_bytes)
    return parse_header(read_range(8, n), n, file_size)
