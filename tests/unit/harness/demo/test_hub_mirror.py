"""The directory-backed Hub mirror: content-addressed publish, the Hub API over it, policy and fetch through it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import policies
from harness.cli.app import main
from harness.demo.hub_mirror import MirrorError, MirrorServer, mirror_repos, publish, resolve_revision, revision_sha
from harness.models.content_hash import file_sha256, local_model_hash
from harness.models.fetch import fetch_model
from policies import HubConfig
from tests.support.hubserver import RecordingMirrorServer
from tests.support.model_factory import write_tiny_model
from tests.support.paths import REPO_ROOT

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
FAST = {"retry_wait_s": 0.01, "timeout_s": 10}


def test_publish_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m")
    root = tmp_path / "mirror"
    first = publish(model, "acme/tiny", root)
    digests = {p.relative_to(model).as_posix(): file_sha256(p) for p in model.rglob("*") if p.is_file()}
    assert first.created and first.sha == revision_sha(digests) and re.fullmatch(r"[0-9a-f]{40}", first.sha)
    assert first.ref == f"hf://acme/tiny@{first.sha}"
    assert sorted(p.name for p in first.path.iterdir()) == sorted(digests)
    again = publish(model, "acme/tiny", root)
    assert (again.sha, again.created) == (first.sha, False)
    assert publish(model, "other/name", root).sha == first.sha  # the revision names content, not the repo
    (model / "config.json").write_text((model / "config.json").read_text() + " ")
    second = publish(model, "acme/tiny", root)
    assert second.sha != first.sha and second.created
    assert resolve_revision(root, "acme/tiny", "main") == second.sha
    assert resolve_revision(root, "acme/tiny", first.sha) == first.sha  # old revisions stay pinned
    assert resolve_revision(root, "acme/tiny", "0" * 40) is None
    assert ("acme/tiny", {"main": second.sha}) in mirror_repos(root)
    assert not list((root / "acme" / "tiny").glob(".*"))  # no staging left behind


def test_publish_refuses_bad_input_and_leaves_nothing(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m")
    root = tmp_path / "mirror"
    for repo in ("acme", "a/b/c", "../x", "acme/..", "acme/a--b", "acme/-x"):
        with pytest.raises(MirrorError, match="ORG/NAME"):
            publish(model, repo, root)
    with pytest.raises(MirrorError, match="no such model folder"):
        publish(tmp_path / "nope", "acme/x", root)
    os.symlink("/etc/passwd", model / "leak.txt")
    with pytest.raises(MirrorError, match="symlinks"):
        publish(model, "acme/x", root)
    assert not root.exists() or not any(root.rglob("*.json"))


def test_link_mode_shares_bytes_with_the_source(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m")
    published = publish(model, "acme/tiny", tmp_path / "mirror", link=True)
    assert os.path.samefile(published.path / "model.safetensors", model / "model.safetensors")


def test_server_answers_with_the_hubs_error_codes_and_ranges(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m")
    root = tmp_path / "mirror"
    sha = publish(model, "acme/tiny", root).sha
    (tmp_path / "secret.txt").write_text("outside the mirror")
    with MirrorServer(root) as mirror, httpx.Client(base_url=mirror.url) as http:
        info = http.get("/api/models/acme/tiny/revision/main", params={"blobs": "true"}).json()
        assert info["sha"] == sha
        sizes = {s["rfilename"]: s["size"] for s in info["siblings"]}
        assert sizes == {p.name: p.stat().st_size for p in model.iterdir()}
        assert http.get("/api/models/acme/none").headers["x-error-code"] == "RepoNotFound"
        assert http.get(f"/api/models/acme/tiny/revision/{'0' * 40}").headers["x-error-code"] == "RevisionNotFound"
        missing = http.get(f"/acme/tiny/resolve/{sha}/nope.json")
        assert (missing.status_code, missing.headers["x-error-code"]) == (404, "EntryNotFound")
        for sneaky in (f"/acme/tiny/resolve/{sha}/../../../secret.txt", f"/acme/tiny/resolve/{sha}/%2e%2e/secret.txt"):
            assert http.get(sneaky).status_code == 404
        assert http.get("/api/models/../secret.txt/revision/main").status_code == 404
        part = http.get(f"/acme/tiny/resolve/{sha}/config.json", headers={"range": "bytes=2-5"})
        assert part.status_code == 206 and part.content == (model / "config.json").read_bytes()[2:6]
        assert part.headers["x-repo-commit"] == sha
        assert http.get("/acme/tiny/resolve/main/config.json", headers={"range": "bytes=99999-"}).status_code == 416
        tree = http.get(f"/api/models/acme/tiny/tree/{sha}", params={"recursive": "true"}).json()
        assert sorted(e["path"] for e in tree) == sorted(sizes)


def test_real_smollm2_policy_check_and_fetch_through_the_mirror(smollm2: Path, tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    published = publish(smollm2, "HuggingFaceTB/SmolLM2-135M-Instruct", root, link=True)
    expected = local_model_hash(published.path, HOTKEY)
    with RecordingMirrorServer(root) as mirror:
        hub = HubConfig(endpoint=mirror.url, **FAST)
        manifest = policies.build_hub_manifest("HuggingFaceTB/SmolLM2-135M-Instruct", "main", hub=hub)
        report = policies.evaluate(manifest)
        assert report.allowed, report.violations
        assert report.facts["revision"] == published.sha and report.facts["parameters"] == 134_515_008
        assert all(r.bytes_sent < 1 << 20 for r in mirror.downloads_of("model.safetensors"))  # headers only
        files = policies.download_files(manifest)
        folder = fetch_model(
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            published.sha,
            files,
            HOTKEY,
            expected,
            models_dir=tmp_path / "models",
            budget_bytes=10**10,
            hub=hub,
        )
    assert file_sha256(folder / "model.safetensors") == file_sha256(smollm2 / "model.safetensors")
    assert sorted(p.name for p in folder.iterdir()) == files


def test_mirror_speaks_huggingface_hub(tmp_path: Path) -> None:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import RevisionNotFoundError

    model = write_tiny_model(tmp_path / "m")
    sha = publish(model, "acme/tiny", tmp_path / "mirror").sha
    with MirrorServer(tmp_path / "mirror") as mirror:
        assert HfApi(endpoint=mirror.url).model_info("acme/tiny").sha == sha
        snapshot = Path(snapshot_download("acme/tiny", revision=sha, endpoint=mirror.url, cache_dir=tmp_path / "hf"))
        assert sorted(p.name for p in snapshot.iterdir()) == sorted(p.name for p in model.iterdir())
        with pytest.raises(RevisionNotFoundError):
            HfApi(endpoint=mirror.url).model_info("acme/tiny", revision="1" * 40)


def test_cli_publish_prints_the_pinned_ref(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = write_tiny_model(tmp_path / "m")
    root = tmp_path / "mirror"
    assert main(["hub", "publish", str(model), "--repo", "acme/tiny", "--root", str(root)]) == 0
    ref = capsys.readouterr().out.strip()
    assert ref == f"hf://acme/tiny@{resolve_revision(root, 'acme/tiny', 'main')}"
    assert main(["hub", "publish", str(model), "--repo", "bad", "--root", str(root)]) == 2
    assert "ORG/NAME" in capsys.readouterr().err


def test_cli_serve_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m")
    root = tmp_path / "mirror"
    sha = publish(model, "acme/tiny", root).sha
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "harness.cli.app", "hub", "serve", "--root", str(root), "--port", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()  # type: ignore[union-attr]
        url = re.search(r"at (http://\S+)", line)
        assert url, line
        assert httpx.get(f"{url[1]}/api/models/acme/tiny", timeout=10).json()["sha"] == sha
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serve_without_a_mirror_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hub", "serve", "--root", str(tmp_path / "none")]) == 2
    assert "no mirror at" in capsys.readouterr().err


def test_mirror_settings_default_under_the_cache(tmp_path: Path) -> None:
    from harness.settings.root import load_settings

    settings = load_settings([f"cache_dir={tmp_path}"])
    assert settings.paths.mirror == tmp_path / "mirror"
    assert json.loads(settings.mirror.model_dump_json())["port"] == 8765
