"""Start a hardened engine container, wait until it answers through its socket, and always remove it.

`run_sandbox(spec, model_dir)` is the only way the harness runs a model. On any exit (success, error,
Ctrl-C) the container is force-removed and its socket directory deleted; `reap_orphans()` cleans what a
killed harness process left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import structlog
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from harness.errors import HarnessError
from harness.sandbox import interface
from harness.sandbox.engine import EngineClient, FailureClass
from harness.sandbox.gpu import check_gpu
from harness.sandbox.interface import SandboxError, SandboxUnavailable
from harness.sandbox.socket_dir import SocketRefused, fd_path, mount_size_limited, open_verified
from harness.sandbox.socket_dir import release as release_socket_dir
from harness.sandbox.spec import (
    LABEL,
    LABEL_HOST,
    LABEL_PID,
    LABEL_SOCKET_DIR,
    SOCKET_NAME,
    SandboxSpec,
    container_kwargs,
)

log = structlog.get_logger(__name__)

LOG_TAIL = 40
# sun_path is 108 bytes on Linux; keep room for the terminating NUL.
MAX_SOCKET_PATH = 107


class DockerUnavailable(SandboxUnavailable):
    """No Docker engine answers, or an image is missing: a host problem, not the model's."""


def docker_client(timeout: int = 60) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        raise DockerUnavailable(
            f"no Docker engine answers ({type(exc).__name__}: {exc}); start dockerd (compose/ensure-docker.sh)"
        ) from None
    return client


def resolve_socket_root(configured: Path | None) -> Path:
    """Short by default: a Unix socket path must fit in 107 bytes."""
    return configured or Path(tempfile.gettempdir()) / f"harness-sandbox-{os.geteuid()}"


def socket_root(spec: SandboxSpec) -> Path:
    root = resolve_socket_root(spec.config.socket_root)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Private to the harness user: the per-sandbox dirs below may be owned by the sandbox uid.
    os.chmod(root, 0o700)
    return root


def _make_socket_dir(spec: SandboxSpec) -> Path:
    """`sb-PID-TOKEN` under the private root, owned by the container uid so the relay can create the socket."""
    path = socket_root(spec) / f"sb-{os.getpid()}-{secrets.token_hex(4)}"
    if len(str(path / SOCKET_NAME)) > MAX_SOCKET_PATH:
        raise HarnessError(f"socket path {path / SOCKET_NAME} is too long for a Unix socket: set sandbox.socket_root")
    path.mkdir(mode=0o700)
    uid, gid = spec.uid_gid
    if mount_size_limited(path, spec.config.socket_dir_size, uid, gid):
        return path
    if (uid, gid) != (os.geteuid(), os.getegid()):
        os.chown(path, uid, gid)
    return path


def _readable_by(st: os.stat_result, uid: int, gid: int) -> bool:
    need_x = stat.S_ISDIR(st.st_mode)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IRUSR) and (not need_x or bool(st.st_mode & stat.S_IXUSR))
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IRGRP) and (not need_x or bool(st.st_mode & stat.S_IXGRP))
    return bool(st.st_mode & stat.S_IROTH) and (not need_x or bool(st.st_mode & stat.S_IXOTH))


def prepare_model_dir(model_dir: Path, uid: int, gid: int) -> tuple[Path, Path | None]:
    """The folder to mount: `model_dir` itself when the sandbox user can read all of it, else (as root) a
    readable private copy, returned with the folder to delete afterwards.

    Source files are never chowned or chmodded: a hard link in the model folder shares its inode with a file
    elsewhere (on main, `harness sandbox run DIR` as root changed the owner and mode of such files). The mount
    is read-only, so read access is all the sandbox gets. Symlinks are neither followed nor copied.
    """
    model_dir = Path(model_dir).resolve()
    if not model_dir.is_dir():
        raise HarnessError(f"model dir {model_dir} does not exist or is not a directory")
    unreadable = [
        p for p in [model_dir, *model_dir.rglob("*")] if not _readable_by(p.lstat(), uid, gid) and not p.is_symlink()
    ]
    if not unreadable:
        return model_dir, None
    if os.geteuid() != 0:
        raise HarnessError(
            f"{unreadable[0]} is not readable by the sandbox user {uid}:{gid}; make the model readable "
            "(chmod -R g+rX / o+rX) or set sandbox.user to its owner"
        )
    return _readable_copy(model_dir, uid, gid)


def _readable_copy(model_dir: Path, uid: int, gid: int) -> tuple[Path, Path]:
    """A fresh folder readable by anyone, beside the model: files the sandbox user can already read are hard
    linked (nothing about them changes; the mount is read-only), the others copied. Symlinks are skipped."""
    staging = Path(tempfile.mkdtemp(prefix="harness-stage-", dir=model_dir.parent))
    os.chmod(staging, 0o755)
    target = staging / "model"
    for source in [model_dir, *sorted(model_dir.rglob("*"))]:
        st = source.lstat()
        dest = target / source.relative_to(model_dir)
        if stat.S_ISDIR(st.st_mode):
            dest.mkdir(mode=0o755, exist_ok=True)
            os.chmod(dest, 0o755)
        elif stat.S_ISREG(st.st_mode):
            if _readable_by(st, uid, gid):
                try:
                    os.link(source, dest, follow_symlinks=False)
                    continue
                except OSError:
                    pass  # another filesystem: copy
            shutil.copyfile(source, dest, follow_symlinks=False)
            os.chmod(dest, 0o644)
    log.info("sandbox.staged_copy", source=str(model_dir), copy=str(target))
    return target, staging


@dataclass
class Sandbox(interface.Sandbox):
    """A running, healthy engine container (the Docker `harness.sandbox.interface.Sandbox`). Valid only inside
    `run_sandbox`'s `with` block."""

    spec: SandboxSpec
    container_id: str
    socket_path: Path
    socket_dir: Path
    started_at: float
    healthy_at: float
    _container: Any = field(repr=False)
    socket_fd: int | None = field(default=None, repr=False)  # O_PATH on the verified socket inode

    def logs(self, tail: int = LOG_TAIL) -> str:
        return _tail_logs(self._container, tail)

    def client(self, **overrides: Any) -> EngineClient:
        """An EngineClient for this sandbox with the spec's limits (overridable). Evaluation passes
        `request_timeout=evaluation.request_timeout_s`: the one per-request deadline setting."""
        cfg = self.spec.config
        concurrency = cfg.max_concurrency
        if self.spec.engine == "cpu" and not cfg.cpu.continuous_batching:
            concurrency = min(concurrency, cfg.cpu.max_concurrency)
        kwargs: dict[str, Any] = {
            "max_concurrency": concurrency,
            "max_response_bytes": cfg.max_response_bytes,
            "max_request_bytes": cfg.max_request_bytes,
            "model": "/model",
        }
        kwargs.update(overrides)
        return EngineClient(fd_path(self.socket_fd) if self.socket_fd is not None else self.socket_path, **kwargs)

    def state(self) -> dict[str, Any]:
        self._container.reload()
        return dict(self._container.attrs.get("State", {}))

    def health(self) -> bool:
        return bool(self.state().get("Running"))

    def classify(self, error: BaseException, settle: float = 3.0) -> SandboxError:
        """Turn a client-side failure into the model's failure class, using what Docker saw (OOM, exit).

        A dropped connection arrives a moment before Docker records the exit, so for `crashed` wait up to
        `settle` seconds for the container to stop: an OOM kill must be recorded as `oom`, not `crashed`.
        """
        claimed: FailureClass = getattr(error, "failure_class", "crashed")
        if claimed == "crashed":
            with contextlib.suppress(Exception):
                self._container.wait(timeout=settle)
        failure_class, reason = _container_failure(self._container)
        if failure_class is None:
            failure_class, reason = claimed, getattr(error, "reason", str(error))
        return SandboxError(failure_class, reason, self.logs())


def _tail_logs(container: Any, tail: int) -> str:
    try:
        return container.logs(tail=tail, stdout=True, stderr=True).decode("utf-8", "replace")
    except docker.errors.APIError:
        return ""


def _container_failure(container: Any) -> tuple[FailureClass | None, str]:
    """(class, reason) when the container is no longer running; (None, "") while it runs."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return "crashed", "container disappeared"
    state = container.attrs.get("State", {})
    if state.get("Running"):
        return None, ""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        return "oom", f"killed for exceeding the memory limit {container.attrs['HostConfig'].get('Memory')} bytes"
    return "crashed", f"container exited with status {code} ({state.get('Error') or state.get('Status')})"


def _health_once(socket_path: Path, uid: int) -> bool:
    fd = open_verified(socket_path, uid)  # a symlink or foreign socket raises SocketRefused: never connected
    if fd is None:
        return False
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=fd_path(fd)), timeout=5.0) as client:
            return client.get("http://sandbox/health").status_code == 200
    except (httpx.HTTPError, OSError):
        return False
    finally:
        os.close(fd)


class _Exited(Exception):
    def __init__(self, failure_class: FailureClass, reason: str) -> None:
        super().__init__(reason)
        self.failure_class: FailureClass = failure_class


def wait_healthy(container: Any, socket_path: Path, timeout: float, uid: int | None = None) -> None:
    """Poll `/health` through the socket until 200; fail fast when the container exits."""
    owner = os.geteuid() if uid is None else uid

    def probe() -> bool:
        failure_class, reason = _container_failure(container)
        if failure_class is not None:
            raise _Exited(failure_class, reason)
        try:
            return _health_once(socket_path, owner)
        except SocketRefused as exc:
            raise _Exited("crashed", str(exc)) from None

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.05, min=0.05, max=0.25),
        retry=retry_if_result(lambda healthy: not healthy),
        reraise=True,
    )
    try:
        retrying(probe)
    except RetryError:
        raise SandboxError(
            "start-timeout", f"engine not healthy within {timeout:g}s", _tail_logs(container, LOG_TAIL)
        ) from None
    except _Exited as exc:
        raise SandboxError(
            exc.failure_class, f"engine exited before it was healthy: {exc}", _tail_logs(container, LOG_TAIL)
        ) from None


def remove_container(container: Any, attempts: int = 3) -> None:
    """SIGKILL and remove (with anonymous volumes); an inference engine has no state worth a graceful stop.

    Never raises: it runs in `finally` blocks, where an error would hide the original one. A container that
    cannot be removed is logged and left for the reaper."""
    for attempt in range(attempts):
        try:
            container.remove(force=True, v=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if attempt == attempts - 1:
                log.error("sandbox.remove_failed", container=getattr(container, "short_id", "?"), error=str(exc))
                return
            time.sleep(0.5 * (attempt + 1))


@contextlib.contextmanager
def run_sandbox(  # the Docker `harness.sandbox.interface.SandboxStart`
    spec: SandboxSpec, model_dir: str | Path, *, client: docker.DockerClient | None = None
) -> Iterator[Sandbox]:
    """Start the engine for `model_dir` in a hardened container; yield it once healthy; always remove it."""
    own_client = client is None
    dc = client or docker_client()
    uid, gid = spec.uid_gid
    container = None
    socket_dir: Path | None = None
    pinned: int | None = None
    staged: Path | None = None
    try:
        model_path, staged = prepare_model_dir(Path(model_dir), uid, gid)
        if spec.needs_gpu:
            if spec.config.gpu_device is None:
                raise HarnessError(f"engine {spec.engine} needs a GPU: set sandbox.gpu_device (index or UUID)")
            gpu = check_gpu(spec.config.gpu_device, spec.config.gpu_min_free_mib)
            log.info("sandbox.gpu", device=spec.config.gpu_device, checked=gpu is not None)
        try:
            dc.images.get(spec.image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"image {spec.image} is missing: run `make images`") from None
        socket_dir = _make_socket_dir(spec)
        name = f"harness-{spec.engine}-{socket_dir.name}"
        kwargs = container_kwargs(spec, model_path, socket_dir, name=name)
        started = time.monotonic()
        try:
            container = dc.containers.run(**kwargs)
        except docker.errors.APIError as exc:
            raise SandboxError("crashed", f"container did not start: {exc.explanation or exc}") from None
        log.info("sandbox.started", container=container.short_id, engine=spec.engine, model=str(model_path))
        socket_path = socket_dir / SOCKET_NAME
        wait_healthy(container, socket_path, spec.config.startup_timeout, uid)
        healthy = time.monotonic()
        log.info("sandbox.healthy", container=container.short_id, seconds=round(healthy - started, 3))
        pinned = open_verified(socket_path, uid)
        if pinned is None:
            raise SandboxError("crashed", f"{socket_path} disappeared after the health check")
        yield Sandbox(spec, container.id, socket_path, socket_dir, started, healthy, container, pinned)
    finally:
        if pinned is not None:
            os.close(pinned)
        if container is not None:
            remove_container(container)
            log.info("sandbox.removed", container=container.short_id)
        if socket_dir is not None:
            release_socket_dir(socket_dir)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        if own_client:
            dc.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(
    client: docker.DockerClient | None = None, *, socket_dirs_root: Path | None = None, all_hosts: bool = False
) -> list[str]:
    """Remove labelled containers whose owning harness process (on this host) is gone, and their socket dirs.

    Containers of a live harness process (another validator command, a parallel test) are left alone, and so
    are those labelled by another host name (a harness in a container sharing this Docker engine has its own
    pid namespace: its pids cannot be checked from here) unless `all_hosts`. Live owners on this host always
    keep their containers. Returns the ids removed.
    """
    own_client = client is None
    dc = client or docker_client()
    host = socket.gethostname()
    removed: list[str] = []
    try:
        for container in dc.containers.list(all=True, filters={"label": LABEL}):
            labels = container.labels or {}
            pid = labels.get(LABEL_PID, "")
            if labels.get(LABEL_HOST) == host:
                if pid.isdigit() and _pid_alive(int(pid)):
                    continue
            elif not all_hosts:
                continue
            remove_container(container)
            removed.append(container.id)
            sock_dir = labels.get(LABEL_SOCKET_DIR)
            if sock_dir and Path(sock_dir).name.startswith("sb-"):
                release_socket_dir(Path(sock_dir))
            log.info("sandbox.reaped", container=container.short_id, owner_pid=pid)
        root = resolve_socket_root(socket_dirs_root)
        if root.is_dir():
            for path in root.glob("sb-*"):
                pid = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
                if pid.isdigit() and not _pid_alive(int(pid)):
                    release_socket_dir(path)
    finally:
        if own_client:
            dc.close()
    return removed
