"""Host checks behind `harness doctor`: can this machine run sandboxes, and are they really isolated?"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from harness.errors import HarnessError
from harness.sandbox.config import SandboxConfig
from harness.sandbox.gpu import query_gpus
from harness.sandbox.probes import run_isolation_probes
from harness.sandbox.runtime import docker_client
from harness.sandbox.spec import SandboxSpec

MIN_FREE_GIB = 10.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, **({"data": self.data} if self.data else {})}


def _free_gib(path: Path) -> float:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 2**30


def run_checks(config: SandboxConfig, cache_dir: Path, *, probes: bool = True) -> list[Check]:
    checks: list[Check] = []
    try:
        client = docker_client(timeout=30)
    except HarnessError as exc:  # no engine answers: nothing else can be checked (doctor exits 2, not 1)
        return [Check("docker", False, str(exc), {"unreachable": True})]
    try:
        info = client.info()
        version = client.version()
        checks.append(
            Check(
                "docker",
                True,
                f"engine {version.get('Version')} (API {version.get('ApiVersion')})",
                {"cgroup": info.get("CgroupVersion"), "runtimes": sorted(info.get("Runtimes", {}))},
            )
        )
        if config.runtime:
            known = info.get("Runtimes", {})
            checks.append(
                Check(
                    "runtime",
                    config.runtime in known,
                    f"{config.runtime} {'registered' if config.runtime in known else 'NOT registered'}",
                )
            )
        wanted = {"cpu": config.cpu_image, "sglang": config.sglang_image}
        for engine, tag in wanted.items():
            try:
                image = client.images.get(tag)
                checks.append(Check(f"image:{engine}", True, f"{tag} ({image.short_id})"))
            except docker.errors.ImageNotFound:
                required = engine == config.engine
                hint = "run `make images`" if engine == "cpu" else "build it on a GPU host (make images)"
                checks.append(
                    Check(
                        f"image:{engine}",
                        not required,
                        f"{tag} missing: {hint}" + ("" if required else " (not the configured engine)"),
                    )
                )
        gpus = query_gpus()
        if gpus:
            listing = ", ".join(f"{g.index}: {g.name} {g.memory_free_mib}/{g.memory_total_mib} MiB free" for g in gpus)
            checks.append(Check("gpus", True, listing, {"count": len(gpus)}))
        else:
            needed = config.engine == "sglang"
            checks.append(
                Check("gpus", not needed, "no NVIDIA GPU visible" + (" (sglang needs one)" if needed else ""))
            )
        for label, path in (
            ("disk:docker", Path(info.get("DockerRootDir", "/var/lib/docker"))),
            ("disk:cache", cache_dir),
        ):
            free = _free_gib(path)
            checks.append(Check(label, free >= MIN_FREE_GIB, f"{free:.1f} GiB free at {path}"))
        if probes:
            try:
                client.images.get(config.cpu_image)
            except docker.errors.ImageNotFound:
                checks.append(Check("isolation", False, f"cannot probe: {config.cpu_image} missing (make images)"))
            else:
                spec = SandboxSpec.from_settings(config, engine="cpu")
                for probe in run_isolation_probes(spec, client):
                    checks.append(
                        Check(
                            f"isolation:{probe.name}",
                            probe.passed,
                            probe.detail,
                            {"isolated": probe.isolated, "control": probe.control},
                        )
                    )
    finally:
        client.close()
    return checks
