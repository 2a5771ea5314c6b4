"""The Ray head's address: loopback or private unless the operator says a firewall keeps its ports private."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.round.executors.ray_executor import check_ray_address, ray_address_exposure, ray_executor_for
from harness.settings.root import load_settings


@pytest.mark.parametrize(
    "address",
    ["auto", "local", "127.0.0.1:6379", "localhost:6379", "ray://10.0.0.5:10001", "192.168.1.20:6379",
     "172.16.3.4", "[::1]:6379", "[fd00::5]:6379"],
)  # fmt: skip
def test_loopback_and_private_addresses_pass(address: str) -> None:
    assert ray_address_exposure(address, resolve=_no_dns) is None


@pytest.mark.parametrize("address", ["8.8.8.8:6379", "ray://1.2.3.4:10001", "[2606:4700::1111]:6379", "0.0.0.0:6379"])
def test_public_addresses_are_named(address: str) -> None:
    assert "neither loopback nor a private address" in (ray_address_exposure(address, resolve=_no_dns) or "")


def test_a_host_name_counts_by_every_address_it_resolves_to() -> None:
    assert ray_address_exposure("head.internal:6379", resolve=lambda _: ["10.1.2.3"]) is None
    mixed = ray_address_exposure("head.example:6379", resolve=lambda _: ["10.1.2.3", "93.184.216.34"])
    assert mixed == "is head.example (93.184.216.34), neither loopback nor a private address"

    def fails(_: str) -> list[str]:
        raise OSError(-2, "Name or service not known")

    assert "cannot be resolved" in (ray_address_exposure("nowhere.invalid:6379", resolve=fails) or "")


def test_public_address_is_refused_unless_secured() -> None:
    with pytest.raises(HarnessError, match="unauthenticated") as info:
        check_ray_address("8.8.8.8:6379", secured=False)
    assert "supervisor.ray_address_secured=true" in str(info.value) and "\n" not in str(info.value)
    check_ray_address("8.8.8.8:6379", secured=True)  # the operator's word, with the firewall the docs ask for


def test_the_service_refuses_before_joining(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(["supervisor.executor=ray", "supervisor.ray_address=ray://8.8.8.8:10001"])
    with pytest.raises(HarnessError, match=re.escape("ray_address 'ray://8.8.8.8:10001' is 8.8.8.8")):
        ray_executor_for(settings)
    secured = load_settings(["supervisor.ray_address=ray://8.8.8.8:10001", "supervisor.ray_address_secured=true"])
    assert ray_executor_for(secured).address == "ray://8.8.8.8:10001"  # built, not connected: no cluster joined


def test_round_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(
        HARNESS_CACHE_DIR=str(tmp_path),
        HARNESS_SUPERVISOR__EXECUTOR="ray",
        HARNESS_SUPERVISOR__RAY_ADDRESS="8.8.8.8:6379",
    )
    run = subprocess.run(
        [sys.executable, "-c", "from harness.cli.app import main; raise SystemExit(main())", "round", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1 and "unauthenticated" in err[0], run.stderr


def _no_dns(host: str) -> list[str]:
    raise AssertionError(f"an IP literal was resolved: {host}")
