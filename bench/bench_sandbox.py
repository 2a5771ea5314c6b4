"""Sandbox overhead: start→healthy beyond the engine's own start, teardown, and throughput via the socket.

Baseline = the same engine (sandbox_images/cpu/serve_cpu.py, same transformers/torch versions, same args) run
on the host without a sandbox, reached over TCP. The two sides run one after the other, never together, on the
real SmolLM2 model. A trivial engine (tests/support/fault_server.py "healthy") measures the start overhead
with no model load at all, which is far less noisy than subtracting two ~10 s model loads.
Goals: start overhead <= 2 s; socket throughput within 5 % of direct.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from harness.demo.bundled_models import smollm2_dir
from harness.sandbox import SandboxSpec, docker_client, run_sandbox
from harness.sandbox.engine import EngineClient
from harness.sandbox.spec import engine_command
from harness.settings.root import load_settings

REPO = Path(__file__).resolve().parents[1]
SERVE_CPU = REPO / "sandbox_images" / "cpu" / "serve_cpu.py"
FAULT_SERVER = REPO / "tests" / "fixtures" / "fault_server.py"
STARTS = 3
WARMUP = 4
ROUNDS = 3
REQUESTS = {1: 6, 8: 16}
PAYLOAD = {"messages": [{"role": "user", "content": "Name three colours."}], "max_tokens": 8, "temperature": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _host_engine(argv: list[str], port: int) -> tuple[subprocess.Popen, float]:
    """Start an engine on the host; return it and seconds until /health answered 200."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ENGINE_PORT": str(port)}
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = started + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"host engine exited with {proc.returncode}: {argv}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("host engine never became healthy")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _rate(client: EngineClient, concurrency: int, total: int) -> float:
    remaining = [total]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await client.chat_completion(PAYLOAD)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def _measure_rates(direct: EngineClient, via_socket: EngineClient) -> dict[int, dict[str, list[float]]]:
    """Both engines up and warm; measure them alternately (A B A B ...) so load from other processes on this
    shared machine hits both sides alike; the medians are compared."""

    async def go() -> dict[int, dict[str, list[float]]]:
        for client in (direct, via_socket):
            for _ in range(WARMUP):
                await client.chat_completion(PAYLOAD)
        rates: dict[int, dict[str, list[float]]] = {}
        for concurrency, total in REQUESTS.items():
            rates[concurrency] = {"direct": [], "socket": []}
            for _ in range(ROUNDS):
                rates[concurrency]["direct"].append(await _rate(direct, concurrency, total))
                rates[concurrency]["socket"].append(await _rate(via_socket, concurrency, total))
        await direct.aclose()
        await via_socket.aclose()
        return rates

    return asyncio.run(go())


def _host_cpu_argv(model: Path, port: int) -> list[str]:
    spec = SandboxSpec.from_settings(load_settings().sandbox, engine="cpu", engine_port=port)
    argv = engine_command(spec)
    argv[argv.index("/model")] = str(model)
    return [sys.executable, str(SERVE_CPU), *argv[2:]]


def run() -> dict[str, Any]:
    settings = load_settings()
    model = smollm2_dir(settings.cache_dir)
    client = docker_client()
    spec = SandboxSpec.from_settings(settings.sandbox, engine="cpu", memory_limit="4g")
    result: dict[str, Any] = {"model": "SmolLM2-135M-Instruct", "engine": "transformers serve (cpu)"}

    with tempfile.TemporaryDirectory(prefix="bench-trivial-") as tmp:
        trivial_model = Path(tmp)
        shutil.copy(FAULT_SERVER, trivial_model / "fault_server.py")
        trivial_spec = SandboxSpec.from_settings(
            settings.sandbox, engine="cpu", command=["python", "/model/fault_server.py", "healthy"]
        )
        host_trivial, box_trivial, teardown = [], [], []
        for _ in range(STARTS):
            port = _free_port()
            proc, seconds = _host_engine([sys.executable, str(FAULT_SERVER), "healthy"], port)
            _stop(proc)
            host_trivial.append(seconds)
            t0 = time.monotonic()
            with run_sandbox(trivial_spec, trivial_model, client=client):
                healthy = time.monotonic()
            teardown.append(time.monotonic() - healthy)
            box_trivial.append(healthy - t0)

    host_real, box_real = [], []
    for _ in range(STARTS):
        port = _free_port()
        proc, seconds = _host_engine(_host_cpu_argv(model, port), port)
        _stop(proc)
        host_real.append(seconds)
        t0 = time.monotonic()
        with run_sandbox(spec, model, client=client):
            healthy = time.monotonic()
        teardown.append(time.monotonic() - healthy)
        box_real.append(healthy - t0)

    port = _free_port()
    proc, _ = _host_engine(_host_cpu_argv(model, port), port)
    try:
        with run_sandbox(spec, model, client=client) as sandbox:
            direct_client = EngineClient(
                None, base_url=f"http://127.0.0.1:{port}", max_concurrency=8, request_timeout=300
            )
            rates = _measure_rates(direct_client, sandbox.client(max_concurrency=8, request_timeout=300))
    finally:
        _stop(proc)
    client.close()

    med = statistics.median
    result["start_seconds"] = {
        "trivial_engine_host": round(med(host_trivial), 3),
        "trivial_engine_sandbox": round(med(box_trivial), 3),
        "smollm2_host": round(med(host_real), 3),
        "smollm2_sandbox": round(med(box_real), 3),
        "samples": STARTS,
    }
    result["start_overhead_seconds"] = {
        "trivial_engine": round(med(box_trivial) - med(host_trivial), 3),
        "smollm2_model_load_subtracted": round(med(box_real) - med(host_real), 3),
        "goal": 2.0,
    }
    result["teardown_seconds"] = {"median": round(med(teardown), 3), "max": round(max(teardown), 3)}
    per_second = {}
    for c, sides in rates.items():
        direct_rate, socket_rate = med(sides["direct"]), med(sides["socket"])
        per_second[f"concurrency_{c}"] = {
            "direct_tcp": round(direct_rate, 3),
            "sandbox_socket": round(socket_rate, 3),
            "socket_over_direct": round(socket_rate / direct_rate, 3),
            "rounds_direct": [round(x, 3) for x in sides["direct"]],
            "rounds_socket": [round(x, 3) for x in sides["socket"]],
            "requests_per_round": REQUESTS[c],
        }
    result["chat_completions_per_second"] = per_second
    result["goals_met"] = {
        "start_overhead_le_2s": result["start_overhead_seconds"]["trivial_engine"] <= 2.0
        and result["start_overhead_seconds"]["smollm2_model_load_subtracted"] <= 2.0,
        "socket_within_5pct": all(
            v["socket_over_direct"] >= 0.95 for v in result["chat_completions_per_second"].values()
        ),
    }
    result["payload"] = PAYLOAD
    return result
