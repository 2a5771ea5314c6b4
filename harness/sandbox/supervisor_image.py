"""Build context of the supervisor image (the harness itself, run by docker-compose): `compose/supervisor.Dockerfile`.

No registry is needed: the image is built FROM the debootstrap base, and every Python dependency comes from a
wheelhouse made on the host (`pip wheel` with the host's pip configuration, so it sees the local torch CPU wheel
and the pip cache), installed in the build with `pip install --no-index`. The versions are pinned to the host
environment's own (`pip freeze` as constraints), so the image runs what the tests ran.

The context lives in the gitignored `compose/.build/supervisor/`: `deps/` (third-party wheels: one cached layer)
and `project/` (the harness wheel: a small layer rebuilt on every code change). `sandbox_images/` stays free of
harness code. Whether to rebuild at all is decided from a hash of the inputs before the (slow) wheelhouse step.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError

REPO_DIR = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_DIR / "compose" / "supervisor.Dockerfile"
CONTEXT_DIR = REPO_DIR / "compose" / ".build" / "supervisor"
PROJECT_NAME = "subnet-harness"
# What ends up in the project wheel (code and dependencies); a change to any of these rebuilds the image.
SOURCE_PACKAGES = ("harness", "chain", "policies", "scoring")
SOURCE_FILES = ("pyproject.toml", "requirements.lock")  # README.md only feeds the wheel's description: not an input
# Installed with --no-deps: the harness reads only their data files (BFCL v4), not their code's dependencies.
DATA_ONLY_PACKAGES = ("bfcl-eval",)


def frozen_constraints() -> str:
    """The host environment's installed versions (minus the editable project) as pip constraints."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HarnessError(f"pip freeze failed: {result.stderr.strip()[-500:]}")
    lines = []
    for line in result.stdout.splitlines():
        name = line.split("==")[0].strip().lower().replace("_", "-")
        # Only plain pins: `name @ file://...` lines name host paths the build cannot see.
        if "==" in line and " @ " not in line and name != PROJECT_NAME:
            lines.append(line.strip())
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def source_digest(constraints: str, base_id: str) -> str:
    """Hash of everything the image is made from; equal hash means the tagged image is up to date."""
    digest = hashlib.sha256()
    files = [DOCKERFILE, *(REPO_DIR / f for f in SOURCE_FILES)]
    for package in SOURCE_PACKAGES:
        files += sorted(p for p in (REPO_DIR / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(REPO_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(constraints.encode())
    digest.update(base_id.encode())
    return digest.hexdigest()[:24]


def _dist_name(pin: str) -> str:
    """`Bfcl_Eval==1.0` -> `bfcl-eval`: pip freeze keeps a distribution's own spelling."""
    return pin.split("==")[0].strip().lower().replace("_", "-")


def _sync_dir(source: Path, target: Path) -> None:
    """Make `target` hold exactly `source`'s wheels; unchanged files are kept so Docker's layer cache hits."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in source.glob("*.whl")}
    for old in target.iterdir():
        if old.name not in wanted:
            old.unlink()
    for name, path in wanted.items():
        dest = target / name
        if dest.exists() and dest.stat().st_size == path.stat().st_size:
            continue
        shutil.copy2(path, dest)


def prepare_context(constraints: str, log: Callable[[str], None]) -> Path:
    """Fill `compose/.build/supervisor/` with the wheelhouse; returns the context directory."""
    CONTEXT_DIR.mkdir(parents=True, exist_ok=True)
    (CONTEXT_DIR / "constraints.txt").write_text(constraints)
    # The release's lock, beside the venv in the image: the scoring fingerprint hashes it and the service checks
    # the installed packages against it (harness/fingerprint.py).
    shutil.copy2(REPO_DIR / "requirements.lock", CONTEXT_DIR / "requirements.lock")
    with tempfile.TemporaryDirectory(prefix="harness-wheels-") as tmp:
        out = Path(tmp) / "wheels"
        log(f"building the supervisor wheelhouse (pip wheel {REPO_DIR}, pinned to this environment)")
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out)]
        command += ["--constraint", str(CONTEXT_DIR / "constraints.txt"), str(REPO_DIR)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(f"pip wheel for the supervisor image failed: {result.stderr.strip()[-1500:]}")
        project = Path(tmp) / "project"
        project.mkdir()
        own = sorted(out.glob(PROJECT_NAME.replace("-", "_") + "-*.whl"))
        if len(own) != 1:
            raise HarnessError(f"expected one {PROJECT_NAME} wheel in the wheelhouse, found {len(own)}")
        own[0].rename(project / own[0].name)
        data_only = Path(tmp) / "data-only"
        pins = [pin for pin in constraints.splitlines() if _dist_name(pin) in DATA_ONLY_PACKAGES]
        if pins:
            log(f"adding data-only packages without their dependencies: {', '.join(pins)}")
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(data_only)]
            result = subprocess.run([*command, *pins], capture_output=True, text=True, env=env, check=False)
            if result.returncode != 0:
                raise HarnessError(f"pip wheel of {', '.join(pins)} failed: {result.stderr.strip()[-1500:]}")
        data_only.mkdir(exist_ok=True)
        _sync_dir(out, CONTEXT_DIR / "deps")
        _sync_dir(data_only, CONTEXT_DIR / "data-only")
        _sync_dir(project, CONTEXT_DIR / "project")
    return CONTEXT_DIR
