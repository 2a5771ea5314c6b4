"""Hostile model folders, one per attack class of issue 12, through the same bounded worker the CLI and the
validator use: every one ends as a verdict with its rule id (never a traceback, a stall or a skipped file),
within the worker's enforced 10 s deadline and 512 MiB address-space cap, with the checker's peak RSS measured.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import policies
from harness.cli.app import main
from policies.config import PolicyConfig
from tests.support.model_factory import write_tiny_model

LIMITS = policies.WorkerLimits(deadline_s=10.0, memory_bytes=512 * 1024**2)
MiB = 1024**2


def judge(root: Path) -> policies.WorkerResult:
    result = policies.check_in_worker({"local": str(root), "deep": True}, PolicyConfig(), limits=LIMITS)
    assert 0 < result.peak_rss_bytes < 512 * MiB
    return result


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


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_model_gets_a_verdict_within_the_bounds(tmp_path: Path, name: str) -> None:
    rules, mutate = HOSTILE[name]
    root = write_tiny_model(tmp_path / "m")
    before = set(os.listdir(root))
    mutate(root)
    result = judge(root)
    assert not result.report.allowed
    assert rules <= result.report.rules_violated, result.report.violations
    added = set(os.listdir(root)) - before
    assert not added & set(result.files), "a refused file is in the download list"


def test_the_tiny_model_passes_the_same_worker(tmp_path: Path) -> None:
    result = judge(write_tiny_model(tmp_path / "m"))
    assert result.report.allowed, result.report.violations
    assert "model.safetensors" in result.files


def test_a_check_past_its_deadline_is_killed_and_says_so(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    with pytest.raises(policies.CheckTimeout, match=r"did not finish within 0\.2 s"):
        policies.check_in_worker({"local": str(root)}, PolicyConfig(), limits=policies.WorkerLimits(0.2, 512 * MiB))


def test_a_check_over_its_memory_cap_is_a_resource_error(tmp_path: Path) -> None:
    """The cap is real: with the header cap raised, a 200 MB header cannot be read and decoded in 256 MiB."""
    root = write_tiny_model(tmp_path / "m")
    raw = b'{"__metadata__": {"pad": "' + b"x" * (200 * MiB) + b'"}}'
    (root / "model-00002-of-00002.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0\0")
    config = PolicyConfig(max_header_bytes=1024**3)
    with pytest.raises(policies.CheckResourceError, match="memory cap"):
        policies.check_in_worker({"local": str(root)}, config, limits=policies.WorkerLimits(30, 256 * MiB))


@pytest.mark.parametrize(
    "name",
    [
        os.fsencode("config-") + b"\xff\xfe.json",  # not UTF-8: a surrogate in Python's view
        b"\x1b]0;pwned\x07\x1b[2J.json",  # terminal escapes
        b"two\nlines.md",  # forges an extra report line
    ],
)
def test_hostile_file_names_are_a_verdict_printed_safely(tmp_path: Path, name: bytes, capsys) -> None:
    root = write_tiny_model(tmp_path / "m")
    with open(os.path.join(os.fsencode(root), name), "wb") as fh:
        fh.write(b"{}")
    assert main(["check", str(root)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "\x1b" not in out.out and "\x07" not in out.out
    assert "file name is not printable" in out.out
    assert main(["check", "--json", str(root)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert any(v["rule"] == "format" for v in doc["violations"])
