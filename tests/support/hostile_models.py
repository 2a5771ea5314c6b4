"""Hostile model folders, one per attack class of issue 12: each entry names the rules that must refuse it and
the mutation that turns a tiny valid model (`tests.support.model_factory.write_tiny_model`) into the attack.

Shared by the policy tests (tests/unit/policies/test_hostile_model.py) and the bench (bench/bench_hostile.py).
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

MiB = 1024**2


def _template(source: str) -> Callable[[Path], None]:
    return lambda root: (root / "chat_template.jinja").write_text(source)


def _json_flood(root: Path) -> None:
    """Five root JSON files of 15 MB: on main every one was parsed and kept (8 of 16 MB reached 3.4 GB)."""
    pad = "x" * (15 * MiB)
    for i in range(5):
        (root / f"extra_{i}.json").write_text(json.dumps({"pad": pad}))


def _oversized_auto_map(root: Path) -> None:
    """auto_map in a root JSON over the parse cap: on main the file was skipped, and the rule with it."""
    doc = json.dumps({"auto_map": {"AutoModel": "evil--modeling.Evil"}, "pad": "x" * (17 * MiB)})
    (root / "custom_config.json").write_text(doc)


def _giant_header(root: Path) -> None:
    """A shard declaring a 100 MB header (sparse on disk): on main, 1.3 GB and 30 s per shard."""
    path = root / "model-00002-of-00002.safetensors"
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", 100 * MiB) + b"{")
    os.truncate(path, 8 + 100 * MiB + 16)


def _header_just_under_the_cap(root: Path) -> None:
    """4 MB of header JSON (many tensors, layout wrong): parsed inside the cap, memory must stay bounded."""
    doc = {f"t{i}": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]} for i in range(50_000)}
    raw = json.dumps(doc).encode()
    with open(root / "model-00002-of-00002.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw + b"\0\0")


def _huge_integer_in_header(root: Path) -> None:
    raw = ('{"w": {"dtype": "F16", "shape": [' + "9" * 5000 + '], "data_offsets": [0, 2]}}').encode()
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0\0")


def _prefixed_zip_as_safetensors(root: Path) -> None:
    path = root / "model.safetensors"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    path.write_bytes(b"\x10\0\0\0\0\0\0\0" + path.read_bytes())


HOSTILE: dict[str, tuple[set[str], Callable[[Path], None]]] = {
    "template-power": ({"template"}, _template("{{ messages[9 ** 9 ** 9 ** 9] }}")),
    "template-repeat": ({"template"}, _template("{{ messages['a' * 10 ** 9] }}")),
    "template-range": ({"template"}, _template("{% for i in range(10 ** 12) %}x{% endfor %}")),
    "json-flood": ({"size"}, _json_flood),
    "oversized-auto-map": ({"size"}, _oversized_auto_map),
    "giant-header": ({"corrupt"}, _giant_header),
    "header-under-cap": ({"corrupt"}, _header_just_under_the_cap),
    "huge-integer-in-header": ({"corrupt"}, _huge_integer_in_header),
    "huge-integer-in-config": (
        {"config"},
        lambda r: (r / "config.json").write_text('{"vocab_size": ' + "9" * 5000 + "}"),
    ),
    # Pickle evasions that passed the sniffing blocklist on main, now refused by the kind allowlist.
    "pickle-no-proto-odd-name": ({"format"}, lambda r: (r / "weights.data").write_bytes(b"(dp0\nS'a'\np1\nI1\ns.")),
    "pickle-prefixed-in-text": ({"format"}, lambda r: (r / "notes.md").write_bytes(b"junk\x80\x04\x95\x10\0\0")),
    "zip-prefixed-as-safetensors": ({"corrupt"}, _prefixed_zip_as_safetensors),
    "pickle-as-tokenizer-model": ({"pickle"}, lambda r: (r / "tokenizer.model").write_bytes(b"\x80\x04K\x01.")),
    "pickle-as-tokenizer-json": ({"pickle"}, lambda r: (r / "tokenizer.json").write_bytes(b"cos\nsystem\n(tR.")),
    "tokenizer-json-not-utf8": ({"format"}, lambda r: (r / "tokenizer.json").write_bytes(b'{"a": "\xff\xfe"}')),
    "unknown-kind": ({"format"}, lambda r: (r / "model.gguf").write_bytes(b"GGUF" + b"\0" * 64)),
}
