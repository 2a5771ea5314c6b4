"""From inside a real hardened container: what a model can do to the host through its socket dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.sandbox import SandboxSpec, docker_client
from harness.sandbox.runtime import _make_socket_dir, remove_container
from harness.sandbox.socket_dir import release
from harness.sandbox.spec import container_kwargs
from harness.settings.root import Settings

pytestmark = pytest.mark.docker


@pytest.mark.skipif(os.geteuid() != 0, reason="the socket dir is size-limited when the harness runs as root")
def test_writing_into_the_socket_dir_from_inside_cannot_fill_the_host_disk(tmp_path: Path) -> None:
    """On main, 300 MB written from inside landed on the host disk. Now the dir is a 256 KiB tmpfs."""
    config = Settings().sandbox
    spec = SandboxSpec.from_settings(
        config,
        engine="cpu",
        command=["sh", "-c", "head -c 50000000 /dev/zero > /run/harness/flood; echo rc=$?; ls -l /run/harness"],
    )
    model = tmp_path / "model"
    model.mkdir()
    model.chmod(0o755)
    tmp_path.chmod(0o755)
    socket_dir = _make_socket_dir(spec)
    client = docker_client()
    container = None
    try:
        assert os.path.ismount(socket_dir)
        container = client.containers.run(
            **container_kwargs(spec, model, socket_dir, name=f"harness-flood-{os.getpid()}")
        )
        container.wait(timeout=120)
        logs = container.logs().decode()
        assert "rc=1" in logs, logs  # the write failed inside (No space left on device)
        assert (socket_dir / "flood").stat().st_size <= 256 * 1024
    finally:
        if container is not None:
            remove_container(container)
        release(socket_dir)
        client.close()
    assert not socket_dir.exists()


def test_engine_image_has_no_setuid_or_setgid_files() -> None:
    image = Settings().sandbox.cpu_image
    client = docker_client()
    try:
        out = client.containers.run(
            image, ["find", "/", "-xdev", "-type", "f", "-perm", "/6000"], entrypoint=[], user="0", remove=True
        )
    finally:
        client.close()
    assert out.decode().split() == []
