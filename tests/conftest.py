"""Shared fixtures and the rules for marked tests.

- `docker`: needs a Docker engine. Where none answers the test is skipped with the reason, except when
  `CI` or `HARNESS_REQUIRE_DOCKER=1` is set: then it fails, because CI starts an engine and a skip there
  would hide a broken setup.
- `gpu`: needs an NVIDIA GPU; skipped with the reason where none is visible.
- The real SmolLM2 model is built once per machine into the harness cache and shared by every test.
- `chain`: a fresh embedded local chain per test, blocks advanced only by hand, retries without waiting.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest

from chain.local import LocalChain
from chain.retry import RetryPolicy
from harness.demo.bundled_models import smollm2_dir, vlm_dir, vlm_noised_dir
from harness.settings.root import default_cache_dir

# The Docker sandbox fixtures (`docker`, `run_label`, `leftovers`, `fault_model`) for every module in tests/docker.
pytest_plugins = ("tests.support.sandbox_docker",)


def _docker_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("HARNESS_REQUIRE_DOCKER") == "1"


@functools.cache
def docker_unavailable_reason() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as exc:  # any failure means "no engine" here; the reason is reported
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return None


@functools.cache
def gpu_unavailable_reason() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU: nvidia-smi is not on PATH"
    try:
        import torch

        if not torch.cuda.is_available():
            return "no NVIDIA GPU: torch.cuda.is_available() is False"
    except ImportError:
        return "no NVIDIA GPU: torch is not installed"
    return None


VLM_FIXTURES = frozenset({"vlm", "vlm_noised"})
VLM_BUILD_ALLOWANCE_S = 2700  # the demo VLM's training on a fresh 2-core machine: 1390 s measured, twice that when busy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules that need the demo VLM run last, in their usual order.

    Why: a fresh machine trains the VLM for 12-23 minutes (CI starts that build in the background); run in file
    order, the first of them would wait on its build lock while every test that needs no VLM queues behind it,
    and past the 900 s per-test timeout (seen in a fresh-machine CI run: three tests errored)."""

    def module_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    needs_vlm = {module_of(item) for item in items if VLM_FIXTURES & set(getattr(item, "fixturenames", ()))}
    items.sort(key=lambda item: module_of(item) in needs_vlm)
    # The first of them may wait for the whole build (1390 s measured on a fresh machine): pytest-timeout counts
    # fixture setup, so their hang guard gets the build's allowance on top.
    default = float(config.getini("timeout") or 0)
    for item in items:
        if module_of(item) in needs_vlm:
            own = item.get_closest_marker("timeout")
            limit = float(own.args[0]) if own and own.args else default
            item.add_marker(pytest.mark.timeout(limit + VLM_BUILD_ALLOWANCE_S), append=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker"):
        reason = docker_unavailable_reason()
        if reason:
            if _docker_required():
                pytest.fail(f"Docker is required here (CI) but {reason}", pytrace=False)
            pytest.skip(reason)
    if item.get_closest_marker("gpu"):
        reason = gpu_unavailable_reason()
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The harness cache shared across tests and runs (bundled models live here)."""
    path = Path(os.environ.get("HARNESS_CACHE_DIR", default_cache_dir()))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def smollm2(cache_dir: Path) -> Path:
    """The real SmolLM2-135M-Instruct in HF format; built once per machine (about 30 s), then reused."""
    return smollm2_dir(cache_dir)


@pytest.fixture(scope="session")
def vlm(cache_dir: Path) -> Path:
    """The demo VLM (Llava: tiny CLIP tower + SmolLM2); trained once per machine (minutes), then reused."""
    return vlm_dir(cache_dir)


@pytest.fixture(scope="session")
def vlm_noised(cache_dir: Path) -> Path:
    """The demo VLM with a noised vision tower (the demo's worse miner); built once per machine."""
    return vlm_noised_dir(cache_dir)


@pytest.fixture
def chain(tmp_path: Path) -> LocalChain:
    """The embedded local chain in this test's folder: no block time (tests advance it), instant retries."""
    return LocalChain(tmp_path / "chain.sqlite", block_period_s=0, retry=RetryPolicy(attempts=3, wait_s=0))
