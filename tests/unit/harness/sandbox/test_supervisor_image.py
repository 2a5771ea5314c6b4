"""The supervisor image's build inputs and the compose file, without building anything (fast)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.sandbox import supervisor_image
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"


def test_constraints_pin_this_environment_without_the_project_or_host_paths() -> None:
    text = supervisor_image.frozen_constraints()
    lines = text.splitlines()
    assert any(line.startswith("pydantic==") for line in lines)
    assert all("==" in line and " @ " not in line for line in lines)
    assert not any(line.lower().startswith(("subnet-harness", "subnet_harness")) for line in lines)


def test_digest_follows_sources_constraints_and_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    for package in supervisor_image.SOURCE_PACKAGES:
        (repo / package).mkdir(parents=True)
        (repo / package / "__init__.py").write_text("")
    for name in supervisor_image.SOURCE_FILES:
        (repo / name).write_text(name)
    (repo / "compose").mkdir()
    dockerfile = repo / "compose" / "supervisor.Dockerfile"
    dockerfile.write_text("FROM x\n")
    monkeypatch.setattr(supervisor_image, "REPO_DIR", repo)
    monkeypatch.setattr(supervisor_image, "DOCKERFILE", dockerfile)

    first = supervisor_image.source_digest("a==1\n", "sha256:base")
    assert supervisor_image.source_digest("a==1\n", "sha256:base") == first
    assert supervisor_image.source_digest("a==2\n", "sha256:base") != first
    assert supervisor_image.source_digest("a==1\n", "sha256:other") != first
    (repo / "harness" / "__pycache__").mkdir()
    (repo / "harness" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert supervisor_image.source_digest("a==1\n", "sha256:base") == first  # bytecode is not an input
    (repo / "harness" / "new.py").write_text("x = 1\n")
    assert supervisor_image.source_digest("a==1\n", "sha256:base") != first


def test_sync_keeps_unchanged_wheels_and_drops_stale_ones(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    (source / "a-1-py3-none-any.whl").write_bytes(b"aaaa")
    (source / "b-2-py3-none-any.whl").write_bytes(b"bb")
    supervisor_image._sync_dir(source, target)
    kept = (target / "a-1-py3-none-any.whl").stat().st_ino
    (source / "b-2-py3-none-any.whl").unlink()
    (source / "b-3-py3-none-any.whl").write_bytes(b"bbb")
    supervisor_image._sync_dir(source, target)
    assert sorted(p.name for p in target.iterdir()) == ["a-1-py3-none-any.whl", "b-3-py3-none-any.whl"]
    assert (target / "a-1-py3-none-any.whl").stat().st_ino == kept  # untouched: Docker's layer cache holds


def test_compose_file_keeps_paths_equal_and_status_on_loopback() -> None:
    spec = yaml.safe_load(COMPOSE_FILE.read_text())
    assert str(spec["version"]).startswith("2.")  # docker-compose v1.29 reads 2.x
    sup = spec["services"]["supervisor"]
    assert "${HARNESS_DATA}:${HARNESS_DATA}" in sup["volumes"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in sup["volumes"]
    assert all(port.startswith("127.0.0.1:") for port in sup["ports"])
    assert sup["pid"] == "host" and sup["restart"] in ("always", "unless-stopped")
    env = sup["environment"]
    assert env["HARNESS_SANDBOX__SOCKET_ROOT"] == "${HARNESS_DATA}/run"
    assert env["HARNESS_HUB__ENDPOINT"] == "http://mirror:8765"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (v1.29) is not installed")
def test_docker_compose_accepts_the_file_and_requires_the_data_dir(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    command = ["docker-compose", "-f", str(COMPOSE_FILE), "config"]
    ok = subprocess.run(
        command, env=base | {"HARNESS_DATA": str(tmp_path), "HARNESS_HOSTNAME": "h"}, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    rendered = yaml.safe_load(ok.stdout)
    assert rendered["services"]["supervisor"]["environment"]["HARNESS_CACHE_DIR"] == str(tmp_path)
    missing = subprocess.run(command, env=base | {"HARNESS_HOSTNAME": "h"}, capture_output=True, text=True)
    assert missing.returncode != 0 and "HARNESS_DATA" in missing.stderr


def _unit_values(key: str) -> list[str]:
    lines = (REPO / "compose" / "harness.service").read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(f"{key}=")]


def test_systemd_unit_keeps_state_and_sandbox_sockets_under_its_writable_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """PrivateTmp hides the service's /tmp from the Docker engine, so socket dirs must live in ReadWritePaths."""
    writable = _unit_values("ReadWritePaths")[0].split()
    env = dict(item.split("=", 1) for item in _unit_values("Environment"))
    assert _unit_values("PrivateTmp") == ["yes"]
    for key in ("HARNESS_CACHE_DIR", "HARNESS_SANDBOX__SOCKET_ROOT"):
        assert any(env[key] == w or env[key].startswith(w.rstrip("/") + "/") for w in writable), (key, env[key])
    example = dict(
        line.split("=", 1)
        for line in (REPO / "compose" / "harness.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert example["HARNESS_SANDBOX__SOCKET_ROOT"] == env["HARNESS_SANDBOX__SOCKET_ROOT"]
    # Every key of the example is a real setting and every value validates: load them the way the service does.
    from harness.settings.root import Settings

    for key, value in example.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    for key, value in example.items():
        node = settings
        for part in key.removeprefix("HARNESS_").lower().split("__"):
            assert hasattr(node, part), f"{key} is not a setting"
            node = getattr(node, part)
        assert str(node).lower() == value.lower() or str(node) == str(type(node)(value)), (key, node, value)
