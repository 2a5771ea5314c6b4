"""The validator's systemd unit passes `systemd-analyze verify` as installed by the steps in its header.

The unit is installed into a scratch root (the documented paths: /etc/systemd/system, /opt/subnet-harness/.venv,
/etc/harness/harness.env), so the check needs no running systemd. A control (the venv missing) shows that verify
really reads the ExecStart path. Skipped only where systemd-analyze is absent; .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

UNIT = REPO_ROOT / "compose" / "harness.service"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not SYSTEM_UNITS.is_dir(),
    reason="systemd-analyze not installed (apt-get install systemd; .ci/run does)",
)


def _documented_install(root: Path, *, with_venv: bool) -> None:
    """What the unit's header tells an operator to run, done under `root` instead of `/`."""
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/harness.service")
    (root / "etc/harness").mkdir(parents=True)
    (root / "etc/harness/harness.env").write_text((REPO_ROOT / "compose/harness.env.example").read_text())
    (root / "var/lib/harness").mkdir(parents=True)
    if with_venv:
        harness = root / "opt/subnet-harness/.venv/bin/harness"
        harness.parent.mkdir(parents=True)
        harness.write_text("#!/bin/sh\n")
        harness.chmod(0o755)
    # the distribution's own units (sysinit.target, docker.service's targets) the unit orders itself after
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "/etc/systemd/system/harness.service"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )


def test_unit_verifies_as_installed(tmp_path: Path) -> None:
    _documented_install(tmp_path, with_venv=True)
    result = _verify(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "harness.service" not in result.stderr, result.stderr


def test_verify_catches_a_missing_venv(tmp_path: Path) -> None:
    _documented_install(tmp_path, with_venv=False)
    result = _verify(tmp_path)
    assert result.returncode != 0
    assert "/opt/subnet-harness/.venv/bin/harness" in result.stderr


def test_documented_install_builds_the_venv_from_a_system_interpreter() -> None:
    """`User=harness` with `ProtectHome=yes` cannot run a venv whose interpreter lives under /root or /home."""
    header = [line for line in UNIT.read_text().splitlines() if line.startswith("#")]
    readme = (REPO_ROOT / "README.md").read_text()
    for text in ("\n".join(header), readme):
        assert "make install images PY=/usr/bin/python3.11" in text
    assert "ProtectHome=yes" in UNIT.read_text()
