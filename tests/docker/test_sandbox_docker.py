"""The sandbox against the real Docker engine and the real CPU image (`make images`).

Faults are real: a test-only engine (tests/support/fault_server.py, run by command override inside the CPU
image) crashes, hangs, allocates past the memory limit or fork-bombs, and each case must end in the right
failure class with no container left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.sandbox import SandboxError, SandboxSpec, reap_orphans, run_sandbox
from harness.sandbox.engine import EngineError
from harness.sandbox.probes import run_isolation_probes
from harness.sandbox.spec import LABEL, LABEL_HOST, LABEL_PID, LABEL_SOCKET_DIR
from harness.settings.root import Settings
from tests.support.paths import REPO_ROOT
from tests.support.sandbox_docker import chat, fault_spec

pytestmark = pytest.mark.docker

REPO = REPO_ROOT


@pytest.mark.slow
def test_cpu_image_serves_smollm2_through_the_socket(docker, smollm2, run_label, leftovers):
    spec = SandboxSpec.from_settings(Settings().sandbox, engine="cpu", memory_limit="4g")
    spec.extra_labels["io.harness.test"] = run_label
    with run_sandbox(spec, smollm2, client=docker) as sandbox:
        assert sandbox.socket_path.is_socket()
        inspect = docker.api.inspect_container(sandbox.container_id)
        assert inspect["HostConfig"]["NetworkMode"] == "none"

        async def go() -> tuple[list[str], dict]:
            async with sandbox.client() as client:
                tools = [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "description": "Weather",
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        },
                    }
                ]
                payload = {
                    "messages": [{"role": "user", "content": "Say hello."}],
                    "max_tokens": 12,
                    "temperature": 0,
                    "tools": tools,
                }
                return await client.models(), await client.chat_completion(payload)

        models, result = asyncio.run(go())
        assert models == ["/model"]
        text = result["choices"][0]["message"]["content"]
        assert isinstance(text, str) and text.strip()
        socket_dir = sandbox.socket_dir
    assert not socket_dir.exists()


def test_isolation_probes_pass_and_are_not_vacuous(docker):
    spec = SandboxSpec.from_settings(Settings().sandbox, engine="cpu")
    results = {r.name: r for r in run_isolation_probes(spec, docker)}
    assert set(results) == {
        "no-host-network",
        "no-route",
        "only-loopback",
        "no-capabilities",
        "non-root",
        "no-new-privileges",
        "read-only-root",
        "read-only-model",
    }
    failed = {name: r.detail for name, r in results.items() if not r.passed}
    assert not failed
    # The control run reached the host listener through the bridge gateway; the sandbox reached nothing.
    assert results["no-host-network"].control and results["no-host-network"].isolated == []
    assert results["only-loopback"].isolated == ["lo"]
    assert results["no-capabilities"].isolated == "0x0"
    assert results["non-root"].isolated != 0


def test_never_healthy_is_start_timeout(docker, fault_model, run_label, leftovers):
    spec = fault_spec("never-healthy", run_label, startup_timeout=3.0)
    with pytest.raises(SandboxError) as info, run_sandbox(spec, fault_model, client=docker):
        pass
    assert info.value.failure_class == "start-timeout"
    assert "fault_server: mode never-healthy" in info.value.logs


def test_exit_at_start_is_crashed_with_logs(docker, fault_model, run_label, leftovers):
    with pytest.raises(SandboxError) as info, run_sandbox(fault_spec("exit", run_label), fault_model, client=docker):
        pass
    assert info.value.failure_class == "crashed"
    assert "status 3" in info.value.reason
    assert "exiting at start-up" in info.value.logs


def test_crash_mid_request_is_crashed(docker, fault_model, run_label, leftovers):
    with run_sandbox(fault_spec("crash", run_label), fault_model, client=docker) as sandbox:
        with pytest.raises(EngineError) as info:
            chat(sandbox)
        failure = sandbox.classify(info.value)
    assert failure.failure_class == "crashed"
    assert "crashing mid-request" in failure.logs


def test_memory_hog_is_oom(docker, fault_model, run_label, leftovers):
    with run_sandbox(fault_spec("oom", run_label, memory_limit="256m"), fault_model, client=docker) as sandbox:
        with pytest.raises(EngineError) as info:
            chat(sandbox)
        failure = sandbox.classify(info.value)
        assert sandbox.state()["OOMKilled"] is True
    assert failure.failure_class == "oom"


def test_hung_request_is_request_timeout(docker, fault_model, run_label, leftovers):
    with run_sandbox(fault_spec("hang", run_label), fault_model, client=docker) as sandbox:
        with pytest.raises(EngineError) as info:
            chat(sandbox, request_timeout=1.5)
        failure = sandbox.classify(info.value)
        assert sandbox.state()["Running"] is True
    assert failure.failure_class == "request-timeout"


def test_fork_bomb_hits_the_pids_limit_and_is_cleaned_up(docker, fault_model, run_label, leftovers):
    spec = fault_spec("forkbomb", run_label, pids_limit=64)
    with run_sandbox(spec, fault_model, client=docker) as sandbox:
        result = chat(sandbox, request_timeout=60)
        report = json.loads(result["choices"][0]["message"]["content"])
        # fork() was refused inside the container before the limit was passed; the harness is unaffected.
        assert report["error"] == "EAGAIN"
        assert report["forks"] < 64
        container_id = sandbox.container_id
    assert not docker.containers.list(all=True, filters={"id": container_id})
    assert subprocess.run(["true"], check=False).returncode == 0


def test_reaper_removes_orphans_of_dead_processes_only(docker, run_label, tmp_path):
    image = Settings().sandbox.cpu_image
    dead_pid = "999999999"
    orphan_dir = tmp_path / f"sb-{dead_pid}-deadbeef"
    orphan_dir.mkdir()
    stale_dir = tmp_path / f"sb-{dead_pid}-cafecafe"  # a socket dir with no container at all
    stale_dir.mkdir()
    common = {"io.harness.test": run_label, LABEL: "1", LABEL_HOST: os.uname().nodename}
    orphan = docker.containers.run(
        image,
        ["sleep", "600"],
        entrypoint=[],
        detach=True,
        network_mode="none",
        labels={**common, LABEL_PID: dead_pid, LABEL_SOCKET_DIR: str(orphan_dir)},
    )
    alive = docker.containers.run(
        image,
        ["sleep", "600"],
        entrypoint=[],
        detach=True,
        network_mode="none",
        labels={**common, LABEL_PID: str(os.getpid()), LABEL_SOCKET_DIR: str(tmp_path / "sb-live")},
    )
    elsewhere = docker.containers.run(  # labelled by another host name: its pid means nothing here
        image,
        ["sleep", "600"],
        entrypoint=[],
        detach=True,
        network_mode="none",
        labels={**common, LABEL_HOST: "some-other-host", LABEL_PID: dead_pid},
    )
    try:
        removed = reap_orphans(docker, socket_dirs_root=tmp_path)
        assert orphan.id in removed
        assert alive.id not in removed and elsewhere.id not in removed
        assert not docker.containers.list(all=True, filters={"id": orphan.id})
        assert docker.containers.list(all=True, filters={"id": alive.id})
        assert not orphan_dir.exists() and not stale_dir.exists()
        assert elsewhere.id in reap_orphans(docker, socket_dirs_root=tmp_path, all_hosts=True)
    finally:
        for container in (orphan, alive, elsewhere):
            with contextlib.suppress(Exception):
                container.remove(force=True)


@pytest.mark.slow
def test_cli_sandbox_run_prints_socket_and_removes_container(docker, smollm2):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli.app",
            "--set",
            'sandbox.memory_limit="4g"',
            "sandbox",
            "run",
            str(smollm2),
            "--for",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = json.loads(proc.stdout.strip().splitlines()[0])
    assert set(line) == {"container", "socket"}
    assert line["socket"].endswith("engine.sock")
    assert not docker.containers.list(all=True, filters={"id": line["container"]})
    assert not Path(line["socket"]).parent.exists()
