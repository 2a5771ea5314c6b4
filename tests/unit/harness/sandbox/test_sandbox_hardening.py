"""Host-side hardening of the sandbox, without Docker: the socket dir's size limit, the socket check before
connecting, CPU and ulimit arguments."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from harness.sandbox.config import SandboxConfig
from harness.sandbox.socket_dir import SocketRefused, fd_path, mount_size_limited, open_verified, release
from harness.sandbox.spec import SandboxSpec, container_kwargs


def _listening(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    return server


def test_a_symlinked_engine_sock_is_refused_even_to_a_real_host_socket(tmp_path: Path) -> None:
    """On main the host client followed engine.sock wherever it pointed (e.g. /var/run/docker.sock)."""
    host_socket = _listening(tmp_path / "host-service.sock")
    sock_dir = tmp_path / "sb"
    sock_dir.mkdir()
    (sock_dir / "engine.sock").symlink_to(tmp_path / "host-service.sock")
    with pytest.raises(SocketRefused, match="symlink"):
        open_verified(sock_dir / "engine.sock", os.geteuid())
    host_socket.close()


def test_a_regular_file_or_a_foreign_socket_is_refused(tmp_path: Path) -> None:
    (tmp_path / "engine.sock").write_text("not a socket")
    with pytest.raises(SocketRefused, match="not a socket"):
        open_verified(tmp_path / "engine.sock", os.geteuid())
    other = tmp_path / "other"
    other.mkdir()
    server = _listening(other / "engine.sock")
    with pytest.raises(SocketRefused, match="owned by uid"):
        open_verified(other / "engine.sock", os.geteuid() + 1)
    server.close()


def test_the_verified_inode_is_what_the_client_connects_to(tmp_path: Path) -> None:
    """A swap after the check changes nothing: the client connects through /proc/self/fd/N."""
    server = _listening(tmp_path / "engine.sock")
    fd = open_verified(tmp_path / "engine.sock", os.geteuid())
    assert fd is not None
    (tmp_path / "engine.sock").rename(tmp_path / "moved.sock")
    (tmp_path / "engine.sock").symlink_to("/nonexistent")  # what an attacker would swap in
    client = socket.socket(socket.AF_UNIX)
    client.connect(fd_path(fd))
    conn, _ = server.accept()
    conn.close(), client.close(), server.close()
    os.close(fd)
    assert open_verified(tmp_path / "missing.sock", os.geteuid()) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (the harness falls back to a plain dir)")
def test_socket_dir_is_size_limited_as_root(tmp_path: Path) -> None:
    sock_dir = tmp_path / "sb"
    sock_dir.mkdir()
    if not mount_size_limited(sock_dir, "64k", os.geteuid(), os.getegid()):
        pytest.skip("tmpfs mount refused here (no CAP_SYS_ADMIN)")
    try:
        with pytest.raises(OSError) as caught, open(sock_dir / "flood", "wb") as fh:
            for _ in range(64):
                fh.write(b"\0" * 64 * 1024)
                fh.flush()
                os.fsync(fh.fileno())
        assert caught.value.errno == errno.ENOSPC
    finally:
        release(sock_dir)
    assert not sock_dir.exists()


def test_cpus_are_always_limited_and_ulimits_set() -> None:
    kwargs = container_kwargs(SandboxSpec(SandboxConfig(), "cpu"), Path("/m"), Path("/s"), name="x")
    assert kwargs["nano_cpus"] == len(os.sched_getaffinity(0)) * 10**9  # never 0 (= unlimited)
    limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in kwargs["ulimits"]}
    assert limits == {"nofile": (4096, 4096), "core": (0, 0)}
    explicit = container_kwargs(SandboxSpec(SandboxConfig(cpus=1.5), "cpu"), Path("/m"), Path("/s"), name="x")
    assert explicit["nano_cpus"] == 1_500_000_000 and explicit["environment"]["OMP_NUM_THREADS"] == "1"
