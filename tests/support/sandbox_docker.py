"""Fixtures and helpers shared by the Docker sandbox tests (tests/docker/): the engine client, a per-test label
that finds every container a test started, the fault engine (tests/support/fault_server.py) as a model folder.

tests/conftest.py registers this module as a plugin, so its fixtures need no import; helpers are imported by name.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.sandbox import SandboxSpec, docker_client
from harness.settings.root import Settings
from tests.support.paths import REPO_ROOT

FAULT_SERVER = REPO_ROOT / "tests" / "support" / "fault_server.py"


@pytest.fixture(scope="module")
def docker() -> Iterator[Any]:
    """A Docker client; the CPU image must be there (a missing image is a setup error, not a skip)."""
    client = docker_client()
    settings = Settings()
    try:
        client.images.get(settings.sandbox.cpu_image)
    except Exception:
        pytest.fail(f"image {settings.sandbox.cpu_image} is missing: run `make images`", pytrace=False)
    yield client
    client.close()


@pytest.fixture
def run_label() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def leftovers(docker: Any, run_label: str) -> Iterator[None]:
    """After the test: no container of this test may remain (and none is left for the next test)."""
    yield
    remaining = docker.containers.list(all=True, filters={"label": f"io.harness.test={run_label}"})
    for container in remaining:
        container.remove(force=True)
    assert not remaining, f"containers left behind: {[c.short_id for c in remaining]}"


@pytest.fixture
def fault_model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(FAULT_SERVER, model / "fault_server.py")
    return model


def fault_spec(mode: str, run_label: str, **overrides: Any) -> SandboxSpec:
    """A CPU sandbox that runs the fault engine in `mode`, labelled so that `leftovers` finds it."""
    spec = SandboxSpec.from_settings(
        Settings().sandbox,
        engine="cpu",
        command=["python", "/model/fault_server.py", mode],
        **{"startup_timeout": 20.0, "memory_limit": "512m", **overrides},
    )
    spec.extra_labels["io.harness.test"] = run_label
    return spec


def chat(sandbox: Any, **client_kwargs: Any) -> dict:
    """One short chat completion through the sandbox's socket."""
    client_kwargs.setdefault("request_timeout", 10.0)

    async def go() -> dict:
        async with sandbox.client(**client_kwargs) as client:
            return await client.chat_completion({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})

    return asyncio.run(go())
