"""Hostile model folders, one per attack class of issue 12, through the same bounded worker the CLI and the
validator use: every one ends as a verdict with its rule id (never a traceback, a stall or a skipped file),
within the worker's enforced 10 s deadline and 512 MiB address-space cap, with the checker's peak RSS measured.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path

import pytest

import policies
from harness.cli.app import main
from policies.config import HubConfig, PolicyConfig
from tests.support.hostile_models import HOSTILE, MiB
from tests.support.model_factory import write_tiny_model

LIMITS = policies.WorkerLimits(deadline_s=10.0, memory_bytes=512 * 1024**2)


def judge(root: Path) -> policies.WorkerResult:
    result = policies.check_in_worker({"local": str(root), "deep": True}, PolicyConfig(), limits=LIMITS)
    assert 0 < result.peak_rss_bytes < 512 * MiB
    return result


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


def test_a_check_past_its_deadline_is_killed_and_says_so() -> None:
    """The check waits on a Hub that accepts the connection and never answers (its own timeouts are a minute), so
    it cannot finish inside the deadline however fast the machine: the worker must be killed at the deadline."""
    target = {"repo_id": "org/tiny", "revision": "a" * 40}
    limits = policies.WorkerLimits(deadline_s=1.5, memory_bytes=512 * MiB)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts, never answers
        hub = HubConfig(endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=60, request_deadline_s=60)
        started = time.monotonic()
        with pytest.raises(policies.CheckTimeout, match=r"did not finish within 1\.5 s"):
            policies.check_in_worker(target, PolicyConfig(), hub, limits)
        assert time.monotonic() - started < 30, "the worker was not killed at its deadline"


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
