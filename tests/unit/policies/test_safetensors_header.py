from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.safetensors_header import HeaderError, SafetensorsHeader, header_length, parse_header, read_header
from tests.support.model_factory import safetensors_header, write_tiny_model

CAP = 100 * 1024 * 1024


def _file(doc: dict, data_len: int) -> bytes:
    raw = json.dumps(doc).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * data_len


def _parse(blob: bytes, cap: int = CAP):
    return read_header(lambda start, n: blob[start : start + n], len(blob), cap)


def test_real_file_written_by_safetensors_parses(tmp_path) -> None:
    root = write_tiny_model(tmp_path / "m")
    blob = (root / "model.safetensors").read_bytes()
    header = _parse(blob)
    assert header.parameters == 32 * 8 + 8 * 8 + 8
    assert header.dtypes == {"F16", "F32"}
    assert header.metadata == {"format": "pt"}


def test_huge_header_length_rejected_before_any_read_of_it() -> None:
    reads: list[tuple[int, int]] = []
    blob = struct.pack("<Q", 2**40) + b"{}"

    def read(start: int, n: int) -> bytes:
        reads.append((start, n))
        return blob[start : start + n]

    with pytest.raises(HeaderError, match="exceeds the cap"):
        read_header(read, 10**12, CAP)
    assert reads == [(0, 8)]  # the header itself was never requested, so nothing was allocated for it


@pytest.mark.parametrize(
    ("doc", "data_len", "match"),
    [
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            12,
            "overlaps",
        ),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12, "gap"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 100, "file holds"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8, "needs 12 bytes"),
        ({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}, 8, "unknown dtype"),
        ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8, "shape"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, 8, "data_offsets"),
        ({"a": [1, 2]}, 0, "not an object"),
        ({"__metadata__": {"k": 1}}, 0, "__metadata__"),
    ],
)
def test_layout_and_schema_errors(doc: dict, data_len: int, match: str) -> None:
    with pytest.raises(HeaderError, match=match):
        _parse(_file(doc, data_len))


def test_invalid_json_and_header_past_end() -> None:
    with pytest.raises(HeaderError, match="JSON"):
        _parse(struct.pack("<Q", 4) + b"{]]]")
    with pytest.raises(HeaderError, match="past the end"):
        header_length(struct.pack("<Q", 100), 50, CAP)


def test_sparse_layout_helper_is_consistent() -> None:
    head, data_len = safetensors_header({"w": ("BF16", [1000, 1000])})
    n = header_length(head[:8], len(head) + data_len, CAP)
    assert parse_header(head[8:], n, len(head) + data_len).parameters == 10**6


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256), st.integers(min_value=0, max_value=2**64))
def test_fuzz_any_bytes_give_a_verdict(blob: bytes, claimed_size: int) -> None:
    """Either a refusal that says why, or a header that fits the file and the cap with tensors inside the data."""
    size = min(claimed_size, len(blob)) if claimed_size % 2 else len(blob)
    blob = blob[:size]
    try:
        header = _parse(blob, cap=1024)
    except HeaderError as exc:
        assert str(exc)
        return
    assert isinstance(header, SafetensorsHeader)
    assert header.header_len <= 1024 and 8 + header.header_len <= len(blob)
    assert all(0 <= t.begin <= t.end <= len(blob) - 8 - header.header_len for t in header.tensors)
    assert header.parameters >= 0


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.fixed_dictionaries(
            {"dtype": st.sampled_from(["F32", "BF16", "F4", "X"]), "shape": st.lists(st.integers(-2, 5), max_size=3)},
            optional={"data_offsets": st.lists(st.integers(-1, 64), max_size=3)},
        ),
        max_size=4,
    ),
    st.integers(0, 64),
)
def test_fuzz_structured_headers(doc: dict, data_len: int) -> None:
    try:
        header = _parse(_file(doc, data_len))
    except HeaderError:
        return
    assert sum(t.end - t.begin for t in header.tensors) == data_len
