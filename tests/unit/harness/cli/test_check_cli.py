"""`harness check`: exit codes 0/1/2, the JSON shape of DESIGN.md, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.app import main
from policies.report import RULE_IDS
from tests.support.hubserver import HubServer
from tests.support.model_factory import write_tiny_model
from tests.support.paths import REPO_ROOT

FACT_KEYS = {
    "parameters", "total_bytes", "dtypes", "architecture", "model_type", "license", "files", "vision",
    "context_length", "has_chat_template",
}  # fmt: skip
REPO = REPO_ROOT


def test_allowed_model_exits_0_with_json(smollm2: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(smollm2), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # the DESIGN.md contract, plus the engine whose rules applied and sglang's verdict for a CPU-engine check
    assert set(doc) == {"model", "allowed", "violations", "facts", "engine", "sglang"}
    assert doc["engine"] == "cpu" and doc["sglang"] == {"allowed": True, "violations": []}
    assert doc["allowed"] is True and doc["violations"] == [] and doc["model"] == str(smollm2)
    assert set(doc["facts"]) >= FACT_KEYS


def test_rejected_model_exits_1_with_rule_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tiny_model(tmp_path / "m", license="cc-by-nc-4.0")
    (root / "evil.py").write_text("import os")
    assert main(["check", str(root), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["allowed"] is False
    assert {v["rule"] for v in doc["violations"]} == {"license", "remote-code"}
    assert all(set(v) == {"rule", "message"} and v["rule"] in RULE_IDS for v in doc["violations"])


def test_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tiny_model(tmp_path / "m")
    (root / "pytorch_model.bin").write_bytes(b"\x80\x02.")
    assert main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out and "[pickle] pytorch_model.bin" in out and "parameters:" in out


def test_settings_change_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tiny_model(tmp_path / "m", license="mit")
    assert main(["check", str(root)]) == 1
    assert main(["--set", 'policy.allowed_licenses=["mit"]', "check", str(root)]) == 0


@pytest.mark.parametrize("ref", ["/nonexistent/model", "hf://bad--name/x", "hf://org/name@"])
def test_could_not_check_exits_2_with_one_line(ref: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", ref]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


def test_a_file_instead_of_a_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    assert main(["check", str(tmp_path / "f")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_unreadable_file_is_a_one_line_check_error(tmp_path: Path, monkeypatch) -> None:
    """(The CLI runs the check in a worker process, where this monkeypatch cannot reach; the reader's error is what
    the worker returns as "could not check", exit 2, as `test_a_file_instead_of_a_folder_exits_2` shows.)"""
    import policies

    root = write_tiny_model(tmp_path / "m")
    real_open = os.open

    def failing_open(path, flags, *args):  # type: ignore[no-untyped-def]
        if str(path).endswith("config.json"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(policies.CheckError) as caught:
        policies.build_local_manifest(root)
    err = str(caught.value)
    assert "cannot read" in err and "config.json" in err and "Permission denied" in err


def test_hub_check_and_hub_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with HubServer() as hub:
        sha = hub.add_repo("org/tiny", write_tiny_model(tmp_path / "m"))
        args = ["--set", f"hub.endpoint={hub.url}", "--set", "hub.retry_wait_s=0.01"]
        assert main([*args, "check", "hf://org/tiny", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["model"] == f"hf://org/tiny@{sha}"
        hub.stop()
        assert main([*args, "check", f"hf://org/tiny@{sha}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: Hub at") and "after 3 tries" in err and "\n" not in err


def test_subprocess_exit_codes(smollm2: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    python = "/work/main/.venv/bin/python" if Path("/work/main/.venv/bin/python").exists() else sys.executable
    ok = subprocess.run(
        [python, "-m", "harness.cli.app", "check", str(smollm2), "--json"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["allowed"] is True
    missing = subprocess.run(
        [python, "-m", "harness.cli.app", "check", str(tmp_path / "none")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error: no such model folder")
