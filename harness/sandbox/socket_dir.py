"""The sandbox's socket directory, as the host sees it: size-limited, and its socket verified before use.

The directory is writable from inside the container (the relay creates `engine.sock` there), so:
- as root, the harness mounts a small tmpfs on it (`sandbox.socket_dir_size`): whatever the model writes there
  lands in a few KiB of RAM, not on the host disk (on main, 300 MB written from inside reached the disk);
- before connecting, the host opens `engine.sock` with `O_PATH | O_NOFOLLOW` and checks that what it holds is a
  socket owned by the sandbox user, not a symlink to some other host socket (the Docker API, say); the client
  then connects through `/proc/self/fd/N`, the inode just checked, so a swap after the check changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.logging import get_logger

log = get_logger(__name__)


class SocketRefused(HarnessError):
    """`engine.sock` is not a socket owned by the sandbox user (a symlink, a file, someone else's socket)."""


def mount_size_limited(path: Path, size: str, uid: int, gid: int) -> bool:
    """Mount a tmpfs of `size` on `path` (root only); False when that is not possible here (not root, no
    CAP_SYS_ADMIN, size "0"), in which case the directory stays on the host filesystem."""
    if size in ("", "0") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    if not _dockerd_shares_our_mounts():
        # E.g. the compose supervisor: a mount would land in our mount namespace only, dockerd would bind the
        # directory underneath, and the engine's socket would be invisible here.
        log.warning("sandbox.socket_dir_unlimited", path=str(path), reason="dockerd is not in this mount namespace")
        return False
    options = f"size={size},mode=0700,uid={uid},gid={gid},nosuid,nodev,noexec"
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "harness-sandbox-sock", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        log.warning("sandbox.socket_dir_unlimited", path=str(path), reason=result.stderr.strip()[:200])
        return False
    return True


def _dockerd_shares_our_mounts() -> bool:
    """True when a `dockerd` process is visible here and lives in this process's mount namespace."""
    try:
        ours = os.readlink("/proc/self/ns/mnt")
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry.name}/comm") as fh:
                    if fh.read().strip() != "dockerd":
                        continue
                if os.readlink(f"/proc/{entry.name}/ns/mnt") == ours:
                    return True
    except OSError:
        return False
    return False


def release(path: Path) -> None:
    """Unmount (if mounted) and remove a socket directory; never raises (it runs in `finally` blocks)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
    shutil.rmtree(path, ignore_errors=True)


def open_verified(socket_path: Path, uid: int) -> int | None:
    """An `O_PATH` fd on `socket_path` once it is a socket owned by `uid`; None while it does not exist yet.
    Raises `SocketRefused` for anything else at that name."""
    try:
        fd = os.open(socket_path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SocketRefused(f"{socket_path}: cannot open ({exc.strerror})") from None
    st = os.fstat(fd)
    why = None
    if stat.S_ISLNK(st.st_mode):
        why = "is a symlink"
    elif not stat.S_ISSOCK(st.st_mode):
        why = "is not a socket"
    elif st.st_uid != uid:
        why = f"is owned by uid {st.st_uid}, not the sandbox user {uid}"
    if why:
        os.close(fd)
        raise SocketRefused(f"{socket_path} {why}: refusing to connect")
    return fd


def fd_path(fd: int) -> str:
    """A path that connects to exactly the inode behind `fd`."""
    return f"/proc/self/fd/{fd}"
