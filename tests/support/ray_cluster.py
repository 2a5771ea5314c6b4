"""A Ray cluster on this one host, each node a separate `ray start --block` process tree.

Why: to try the `ray` executor before renting hosts, and for its tests and benchmark, which must see what a
real cluster does (a node that dies takes its raylet and workers with it; the head reschedules). Each worker
node can get environment variables of its own, as a separate host would have its own settings: for example
`HARNESS_SANDBOX__CPUSET_CPUS`, so two worker nodes on one host pin their sandboxes to different cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

OBJECT_STORE = str(100 * 1024**2)  # bytes per node: results are task records, not tensors
WAIT_S = 120  # every wait on the cluster is bounded
# A killed node is declared dead in seconds, not the default ~30 s; a loaded host starts a raylet slowly.
FAST_FAILURE_ENV = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "500",
    "RAY_raylet_start_wait_time_s": "120",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _node_ports() -> list[str]:
    return [f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}"]


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Ray's raylet and workers need not stay in the node's process group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def _stop(node: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            return
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(1)  # the group's other processes (raylet, workers) get their own SIGTERM's moment


def _ray_start(args: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """`ray start --block` in a session of its own: killing that process group removes the whole node."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    with log.open("ab") as out:
        return subprocess.Popen(
            [ray_bin, "start", "--block", "--disable-usage-stats", "--object-store-memory", OBJECT_STORE, *args],
            env=dict(env),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@dataclass
class LocalCluster:
    """A head with no sandbox slot (so every model runs on a worker) and worker nodes added one at a time."""

    address: str
    head: subprocess.Popen[bytes]
    temp: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def add_worker(self, slots: int = 1, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A worker node with `slots` sandbox slots; returns once the head counts them."""
        import ray

        before = ray.cluster_resources().get("sandbox_slot", 0)
        log = self.temp / f"worker{len(self.workers)}.log"
        worker = _ray_start(
            [
                f"--address={self.address}",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=1",
                f'--resources={{"sandbox_slot": {slots}}}',
                *_node_ports(),
            ],
            log,
            {**self.env, **(env or {})},
        )
        self.workers.append(worker)
        deadline = time.monotonic() + WAIT_S
        while ray.cluster_resources().get("sandbox_slot", 0) < before + slots:
            if worker.poll() is not None:
                raise RuntimeError(f"worker node did not start: {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker node not up after {WAIT_S} s: {ray.cluster_resources()}")
            time.sleep(0.5)
        return worker

    def node_of(self, pid: int) -> subprocess.Popen[bytes]:
        """The worker node (its `ray start` process) that a process descends from."""
        starts = {node.pid: node for node in self.workers}
        while pid > 1 and pid not in starts:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent's pid
        return starts[pid]

    def crash(self, node: subprocess.Popen[bytes]) -> None:
        """The node dies as a host would: every one of its processes SIGKILLed at once, nothing drained."""
        for pid in _descendants(node.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        node.wait(timeout=10)
        self.workers.remove(node)

    def stop(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for node in [*self.workers, self.head]:
            _stop(node)
        self.workers.clear()


@contextlib.contextmanager
def local_cluster(env: Mapping[str, str] | None = None) -> Iterator[LocalCluster]:
    """A head on a free port, this process connected to it as the driver; stopped (every node) on exit."""
    import ray

    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    base_env = {**os.environ, **FAST_FAILURE_ENV, **(env or {})}
    head_args = [
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--include-dashboard=false",
        "--num-cpus=0",
        f"--temp-dir={temp}",
        *_node_ports(),
    ]
    cluster = LocalCluster(f"127.0.0.1:{port}", _ray_start(head_args, temp / "head.log", base_env), temp, base_env)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _listening(port):  # ray.init would wait minutes on a head that failed to start
            if cluster.head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start: {temp / 'head.log'}")
            time.sleep(0.5)
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        yield cluster
    finally:
        cluster.stop()
