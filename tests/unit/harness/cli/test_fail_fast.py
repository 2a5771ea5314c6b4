"""`harness run` and `harness doctor` stop at start with one line and exit 2 when they cannot work at all.

The service used to log `round skipped: chain unavailable` every round for a misspelt network and run on;
these run the real console entry in a subprocess, as systemd would, with a generous guard timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bittensor_node import new_wallet

GUARD_S = 60


def _harness(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    full_env.update(env)
    full_env["HARNESS_CACHE_DIR"] = str(cwd / "cache")
    return subprocess.run(
        [str(Path(sys.executable).with_name("harness")), *argv],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )


def _one_line_exit_2(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def wallet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wallets")
    new_wallet(str(path))
    return path


def _bittensor_env(network: str, wallet_path: Path, hotkey: str = "hot") -> dict[str, str]:
    return {
        "HARNESS_CHAIN__BACKEND": "bittensor",
        "HARNESS_CHAIN__NETWORK": network,
        "HARNESS_CHAIN__WALLET_PATH": str(wallet_path),
        "HARNESS_CHAIN__WALLET_NAME": "validator",
        "HARNESS_CHAIN__WALLET_HOTKEY": hotkey,
    }


def test_unknown_network_is_refused_at_start(tmp_path: Path, wallet_path: Path) -> None:
    result = _harness(["run"], _bittensor_env("finny", wallet_path), tmp_path)
    _one_line_exit_2(result, "chain.network='finny' is not a known network")


def test_missing_hotkey_is_refused_before_any_connection(tmp_path: Path, wallet_path: Path) -> None:
    result = _harness(["run"], _bittensor_env("ws://127.0.0.1:1", wallet_path, hotkey="absent"), tmp_path)
    _one_line_exit_2(result, "validator hotkey not found")


def test_refused_endpoint_is_refused_at_start(tmp_path: Path, wallet_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _harness(["run"], _bittensor_env(f"ws://127.0.0.1:{port}", wallet_path), tmp_path)
    _one_line_exit_2(result, "did not answer")


@pytest.fixture
def silent_endpoint() -> Iterator[int]:
    """Accepts connections and never says a word: a blackholed node, which only a deadline can end."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_silent_endpoint_is_refused_within_the_preflight_deadline(
    tmp_path: Path, wallet_path: Path, silent_endpoint: int
) -> None:
    result = _harness(["run"], _bittensor_env(f"ws://127.0.0.1:{silent_endpoint}", wallet_path), tmp_path)
    _one_line_exit_2(result, "did not answer")


def test_doctor_without_a_docker_engine_exits_2(tmp_path: Path) -> None:
    result = _harness(["doctor"], {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}, tmp_path)
    _one_line_exit_2(result, "no Docker engine answered")
