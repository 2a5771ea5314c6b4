"""Isolation probes: run checks inside a container with the sandbox's own hardening, and again without it.

The second (control) run drops the hardening (bridge network, root, default capabilities, writable root and
model). Every probe must show the capability in the control run, so "cannot connect" means isolated and not
"the probe is broken". Used by `harness doctor` and by the isolation tests.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from harness.sandbox.runtime import _make_socket_dir, prepare_model_dir, remove_container
from harness.sandbox.socket_dir import release as release_socket_dir
from harness.sandbox.spec import MODEL_MOUNT, SandboxSpec, container_kwargs

# Runs inside the container with the image's python3; prints one JSON object.
PROBE_SCRIPT = r"""
import json, os, socket, sys
targets = json.loads(sys.argv[1])
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""
def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.unlink(path)
        return True
    except OSError:
        return False
def connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()
routes = [l for l in open("/proc/net/route").read().splitlines()[1:] if l.strip()]
print(json.dumps({
    "uid": os.getuid(),
    "cap_eff": int(status("CapEff") or "0", 16),
    "no_new_privs": int(status("NoNewPrivs") or "0"),
    "interfaces": sorted(os.listdir("/sys/class/net")),
    "routes": len(routes),
    "root_writable": can_write("/.harness-probe"),
    "model_writable": can_write("/model/.harness-probe"),
    "connect": {f"{h}:{p}": connect(h, p) for h, p in targets},
}))
"""


@dataclass
class ProbeResult:
    name: str
    passed: bool
    isolated: Any
    control: Any
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "isolated": self.isolated,
            "control": self.control,
            "detail": self.detail,
        }


class HostListener:
    """A TCP listener on the host bound to 0.0.0.0; counts accepted connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def host_addresses(client: docker.DockerClient) -> list[str]:
    """The host's IPv4 addresses a container could aim at: the docker bridge gateway and the host's own."""
    found: list[str] = []
    with contextlib.suppress(docker.errors.APIError, KeyError, IndexError, TypeError):
        for cfg in client.networks.get("bridge").attrs["IPAM"]["Config"]:
            if cfg.get("Gateway"):
                found.append(cfg["Gateway"])
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=5, check=True)
        for iface in json.loads(out.stdout):
            for addr in iface.get("addr_info", []):
                found.append(addr["local"])
    with contextlib.suppress(OSError):
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    # Loopback inside a container is the container's own; keep one to show it is not the host's either.
    unique = list(dict.fromkeys(a for a in found if not a.startswith("127.")))
    return [*unique, "127.0.0.1"]


def control_kwargs(kwargs: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """The same container without the hardening: what a naive `docker run` would give the model."""
    relaxed = dict(kwargs)
    for key in ("cap_drop", "security_opt", "user"):
        relaxed.pop(key, None)
    relaxed["network_mode"] = "bridge"
    relaxed["read_only"] = False
    relaxed["user"] = "0:0"
    relaxed["mounts"] = [Mount(target=MODEL_MOUNT, source=str(model_dir), type="bind", read_only=False)]
    relaxed["name"] = kwargs["name"] + "-control"
    return relaxed


def _run_probe(client: docker.DockerClient, kwargs: dict[str, Any], targets: list[tuple[str, int]]) -> dict:
    kwargs = {**kwargs, "entrypoint": ["python3", "-c", PROBE_SCRIPT], "command": [json.dumps(targets)]}
    container = client.containers.run(**kwargs)
    try:
        result = container.wait(timeout=120)
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace").strip()
        if result.get("StatusCode") != 0 or not out:
            err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")[-800:]
            raise RuntimeError(f"probe container failed ({result.get('StatusCode')}): {err}")
        return json.loads(out.splitlines()[-1])
    finally:
        remove_container(container)


@contextlib.contextmanager
def _scratch_model_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="harness-probe-") as tmp:
        path = Path(tmp)
        (path / "config.json").write_text("{}")
        yield path


def run_isolation_probes(spec: SandboxSpec, client: docker.DockerClient) -> list[ProbeResult]:
    """Run the probe hardened and as a control; one result per property, each non-vacuous."""
    listener = HostListener()
    spec = SandboxSpec(spec.config, "cpu", command=())  # probes use the CPU image's python
    socket_dir = _make_socket_dir(spec)
    staged = None
    try:
        with _scratch_model_dir() as model_dir:
            uid, gid = spec.uid_gid
            model_dir, staged = prepare_model_dir(model_dir, uid, gid)
            targets = [(addr, listener.port) for addr in host_addresses(client)]
            kwargs = container_kwargs(
                spec, model_dir, socket_dir, name=f"harness-probe-{socket_dir.name}", role="probe"
            )
            isolated = _run_probe(client, kwargs, targets)
            accepted_isolated = listener.accepted
            control = _run_probe(client, control_kwargs(kwargs, model_dir), targets)
            accepted_control = listener.accepted - accepted_isolated
    finally:
        listener.close()
        import shutil

        release_socket_dir(socket_dir)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return evaluate(isolated, control, accepted_isolated, accepted_control)


def evaluate(isolated: dict, control: dict, accepted_isolated: int, accepted_control: int) -> list[ProbeResult]:
    """Pure: each property passes when isolated shows it blocked AND the control shows the probe can see it."""
    results = []

    def add(name: str, blocked: bool, seen_in_control: bool, iso: Any, ctl: Any, what: str) -> None:
        if not seen_in_control:
            detail = f"control run could not show {what}: the probe proves nothing here"
        elif not blocked:
            detail = f"NOT isolated: {what} works inside the sandbox"
        else:
            detail = f"isolated: {what} is possible only without the hardening"
        results.append(ProbeResult(name, blocked and seen_in_control, iso, ctl, detail))

    reach_iso = {t: ok for t, ok in isolated["connect"].items() if ok}
    reach_ctl = {t: ok for t, ok in control["connect"].items() if ok}
    add(
        "no-host-network",
        not reach_iso and accepted_isolated == 0,
        bool(reach_ctl) and accepted_control > 0,
        sorted(reach_iso),
        sorted(reach_ctl),
        "connecting to a host listener on 0.0.0.0",
    )
    add(
        "no-route",
        isolated["routes"] == 0,
        control["routes"] > 0,
        isolated["routes"],
        control["routes"],
        "a routing table entry",
    )
    add(
        "only-loopback",
        isolated["interfaces"] == ["lo"],
        any(i != "lo" for i in control["interfaces"]),
        isolated["interfaces"],
        control["interfaces"],
        "a network interface besides lo",
    )
    add(
        "no-capabilities",
        isolated["cap_eff"] == 0,
        control["cap_eff"] != 0,
        hex(isolated["cap_eff"]),
        hex(control["cap_eff"]),
        "effective capabilities",
    )
    add("non-root", isolated["uid"] != 0, control["uid"] == 0, isolated["uid"], control["uid"], "uid 0")
    add(
        "no-new-privileges",
        isolated["no_new_privs"] == 1,
        control["no_new_privs"] == 0,
        isolated["no_new_privs"],
        control["no_new_privs"],
        "privilege gain through setuid (NoNewPrivs=0)",
    )
    add(
        "read-only-root",
        not isolated["root_writable"],
        control["root_writable"],
        isolated["root_writable"],
        control["root_writable"],
        "writing to /",
    )
    add(
        "read-only-model",
        not isolated["model_writable"],
        control["model_writable"],
        isolated["model_writable"],
        control["model_writable"],
        "writing to /model",
    )
    return results
