"""SIGTERM (systemd, `docker stop`, `timeout`, a CI runner's cancel) must unwind a command like Ctrl-C does.

Python's default for SIGTERM is to die on the spot: a selftest killed that way left its sandbox container running
(seen: 27 minutes on both cores of this machine) and its staging folder on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.cli import app as cli
from harness.cli.app import EXIT_TERMINATED, Terminated, sigterm_unwinds


def test_sigterm_raises_terminated_inside_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cleaned_up = False
    with pytest.raises(Terminated), sigterm_unwinds():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs at the next bytecode; never reached
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second one while cleaning up is ignored
            time.sleep(0.05)
            cleaned_up = True
    assert cleaned_up
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("where", ["in a command", "before click"])
def test_main_exits_143_with_one_line_when_terminated(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def terminated(*_args: object, **_kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    if where == "in a command":  # through typer, which turns an interrupt into Exit(130)
        from harness.miner import selftest

        monkeypatch.setattr(selftest, "run_selftest", terminated)
        argv = ["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--seed", "x"]
    else:
        monkeypatch.setattr(cli, "app", terminated)
        argv = ["anything"]
    assert cli.main(argv) == EXIT_TERMINATED
    assert capsys.readouterr().err.strip().splitlines()[-1] == "terminated"


def _owned_containers(pid: int) -> list:
    from harness.sandbox.runtime import docker_client
    from harness.sandbox.spec import LABEL_PID

    return docker_client().containers.list(all=True, filters={"label": f"{LABEL_PID}={pid}"})


@pytest.mark.docker
@pytest.mark.slow
def test_a_terminated_selftest_removes_its_sandbox_and_staging(smollm2: Path, tmp_path: Path) -> None:
    """Terminated while its tasks are in flight (after the engine is healthy), not while the container starts."""
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(HARNESS_CACHE_DIR=str(cache), HARNESS_SANDBOX__SOCKET_ROOT=str(tmp_path / "run"))
    harness = str(Path(sys.executable).with_name("harness"))  # the console script, as a user runs it
    command = [harness, "selftest", str(smollm2), "--n", "8", "--seed", "0xdead", "--json"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any("sandbox.healthy" in line for line in lines):
            assert proc.poll() is None, "".join(lines)[-2000:]
            assert time.monotonic() < deadline, "the selftest's engine never became healthy"
            time.sleep(0.5)
        time.sleep(2)  # the first task is in flight
        assert proc.poll() is None, "".join(lines)[-2000:]
        assert [c.status for c in _owned_containers(proc.pid)] == ["running"]
        assert any((cache / "selftest").iterdir())  # the staged model folder exists while it runs
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(lines)
    assert proc.returncode == EXIT_TERMINATED, err[-2000:]
    assert err.strip().splitlines()[-1] == "terminated"
    assert "sandbox.removed" in err
    assert _owned_containers(proc.pid) == []
    assert list((cache / "selftest").iterdir()) == []
