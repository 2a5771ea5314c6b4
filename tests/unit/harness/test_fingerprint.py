"""The scoring fingerprint: what decides scores, hashed, recorded per round, and checked against the lock.

Two validators score alike only on the same stack; these check that the fingerprint moves when a part that
decides scores moves (and not when a cache file appears), that drift from the lock is named package by package,
and that `harness run` refuses a drifted installation in one line unless the operator allows it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import fingerprint
from harness.cli.app import main
from harness.fingerprint import Fingerprint, FingerprintMismatch, check_release, installed_drift, locked_versions
from harness.round.round_fingerprint import latest_round_fingerprint, record_round_fingerprint, round_fingerprint
from harness.state.store import Store
from harness.views.status import status_payload


def test_tree_hash_follows_content_not_caches(tmp_path: Path) -> None:
    (tmp_path / "scoring").mkdir()
    source = tmp_path / "scoring" / "toolcall.py"
    source.write_text("THRESHOLD = 0.5\n")
    before = fingerprint._hash_tree([tmp_path / "scoring"], tmp_path)
    (tmp_path / "scoring" / "__pycache__").mkdir()
    (tmp_path / "scoring" / "__pycache__" / "toolcall.cpython-311.pyc").write_bytes(b"\0" * 10)
    assert fingerprint._hash_tree([tmp_path / "scoring"], tmp_path) == before
    source.write_text("THRESHOLD = 0.6\n")
    assert fingerprint._hash_tree([tmp_path / "scoring"], tmp_path) != before


def test_fingerprint_names_every_part_that_decides_scores() -> None:
    first = fingerprint.scoring_fingerprint()
    assert first.value == fingerprint._hash_text(json.dumps(first.components, sort_keys=True))[:16]
    assert set(first.components) == {"project", "code", "lock", "packages", "bfcl_data", "embedding"}
    # this checkout ships its lock and the data packages: none of the parts may be silently absent
    assert "absent" not in first.components.values() and first.components["lock"] != "none"


def _lock(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_drift_is_named_for_runtime_packages_only(tmp_path: Path) -> None:
    installed = fingerprint.installed_versions()
    lock = _lock(
        tmp_path,
        [
            f"numpy=={installed['numpy']} \\",
            "    --hash=sha256:" + "0" * 64,
            "transformers==0.0.1 \\",
            "    --hash=sha256:" + "1" * 64,
            "pytest==0.0.1",  # a test tool: never decides a score
        ],
    )
    assert locked_versions(lock)["transformers"] == "0.0.1"
    drift = installed_drift(lock)
    assert drift == [f"transformers: locked 0.0.1, installed {installed['transformers']}"]


def test_the_shipped_lock_matches_this_installation() -> None:
    """`make install` installs from requirements.lock: a drift here means the lock and pyproject disagree."""
    assert installed_drift() == []


def test_drift_refuses_unless_allowed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fingerprint, "lock_path", lambda: _lock(tmp_path, ["transformers==0.0.1"]))
    with pytest.raises(FingerprintMismatch, match=r"transformers: locked 0\.0\.1, installed"):
        check_release(allow_mismatch=False)
    assert check_release(allow_mismatch=True)


def test_run_refuses_a_drifted_installation_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(fingerprint, "lock_path", lambda: _lock(tmp_path, ["transformers==0.0.1"]))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["run"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "differs from the release's lock" in err[0]
    assert "scoring.allow_fingerprint_mismatch" in err[0]


def test_each_round_keeps_the_fingerprint_it_started_with(tmp_path: Path) -> None:
    with Store(tmp_path / "state.sqlite") as store:
        round_id = store.begin_round(block=10, block_hash="0x" + "ab" * 32).id
        record_round_fingerprint(store, round_id, Fingerprint("a" * 16, {"code": "1"}))
        record_round_fingerprint(store, round_id, Fingerprint("b" * 16, {"code": "2"}))  # a resumed round
        assert round_fingerprint(store, round_id) == Fingerprint("a" * 16, {"code": "1"})
        assert latest_round_fingerprint(store) == {"round_id": round_id, "value": "a" * 16, "components": {"code": "1"}}
        shown = status_payload(store)["scoring_fingerprint"]
        assert shown["last_round"]["value"] == "a" * 16
        assert shown["installed"]["value"] == fingerprint.scoring_fingerprint().value
