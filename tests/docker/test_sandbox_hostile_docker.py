"""From inside a real hardened container: what a model can do to the host through its socket dir."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from harness.sandbox import SandboxSpec, docker_client
from harness.sandbox.runtime import _make_socket_dir, remove_container
from harness.sandbox.socket_dir import release
from harness.sandbox.spec import container_kwargs
from harness.settings.root import Settings

pytestmark = pytest.mark.docker


@pytest.mark.skipif(os.geteuid() != 0, reason="the socket dir is size-limited when the harness runs as root")
def test_writing_into_the_socket_dir_from_inside_cannot_fill_the_host_disk(tmp_path: Path) -> None:
    """On main, 300 MB written from inside landed on the host disk. Now the dir is a 256 KiB tmpfs."""
    config = Settings().sandbox
    spec = SandboxSpec.from_settings(
        config,
        engine="cpu",
        command=["sh", "-c", "head -c 50000000 /dev/zero > /run/harness/flood; echo rc=$?; ls -l /run/harness"],
    )
    model = tmp_path / "model"
    model.mkdir()
    model.chmod(0o755)
    tmp_path.chmod(0o755)
    socket_dir = _make_socket_dir(spec)
    client = docker_client()
    container = None
    try:
        assert os.path.ismount(socket_dir)
        container = client.containers.run(
            **container_kwargs(spec, model, socket_dir, name=f"harness-flood-{os.getpid()}")
        )
        container.wait(timeout=120)
        logs = container.logs().decode()
        assert "rc=1" in logs, logs  # the write failed inside (No space left on device)
        assert (socket_dir / "flood").stat().st_size <= 256 * 1024
    finally:
        if container is not None:
            remove_container(container)
        release(socket_dir)
        client.close()
    assert not socket_dir.exists()


def test_engine_image_has_no_setuid_or_setgid_files() -> None:
    image = Settings().sandbox.cpu_image
    client = docker_client()
    try:
        out = client.containers.run(
            image, ["find", "/", "-xdev", "-type", "f", "-perm", "/6000"], entrypoint=[], user="0", remove=True
        )
    finally:
        client.close()
    assert out.decode().split() == []


# Three nested loops, each literal under Jinja's range cap: ~7e10 iterations, a render that never ends.
SPINNING_TEMPLATE = (
    "{% for a in range(4096) %}{% for b in range(4096) %}{% for c in range(4096) %}{% endfor %}{% endfor %}"
    "{% endfor %}{% for message in messages %}{{ message['content'] }}{% endfor %}"
)


def _with_template(source: Path, target: Path, template: str) -> Path:
    """The real SmolLM2 (weights hard-linked, not copied) with its chat template replaced."""
    target.mkdir()
    for item in sorted(source.iterdir()):
        if item.is_file() and item.name != "chat_template.jinja":
            os.link(item, target / item.name)
    (target / "chat_template.jinja").write_text(template)
    target.chmod(0o755)
    return target


@pytest.mark.slow
def test_a_spinning_chat_template_costs_one_render_deadline_per_task_then_ends_the_evaluation(
    smollm2: Path, tmp_path: Path
) -> None:
    """Issue 22: on main each request timed out while the engine kept rendering, so the model burned its whole
    time budget. Now the engine cancels each render at `sandbox.render_timeout_s` and is free for the next task
    (which therefore fails as template-timeout too, not as request-timeout behind a busy engine), and the third
    such failure ends the evaluation as evaluate/template-timeout. Run without the policy: this is the engine's
    own guard, for whatever template gets past the static checks."""
    from harness.errors import StageFailure
    from harness.evaluation.stage import CompetitionTaskSet, SandboxEvaluateStage
    from harness.models.prepare import PreparedModel
    from harness.tasks import build_for_competition
    from harness.tasks.config import TasksConfig

    render_s, request_s, budget_s = 6.0, 40.0, 900.0
    settings = Settings.model_validate(
        {
            "sandbox": {"engine": "cpu", "memory_limit": "4g", "render_timeout_s": render_s},
            "evaluation": {"request_timeout_s": request_s, "template_timeouts_max": 3, "max_tokens": 8},
        }
    )
    model = _with_template(smollm2, tmp_path / "spinner", SPINNING_TEMPLATE)
    tasks = CompetitionTaskSet(
        "toolcall",
        build_for_competition("template-spin", {"toolcall": 1.0}, TasksConfig(toolcall_n=8)),
        {"toolcall": 1.0},
    )
    results = []
    stage = SandboxEvaluateStage(settings)
    started = time.monotonic()
    with pytest.raises(StageFailure) as failure:
        stage.evaluate(
            PreparedModel(model_dir=model, identity="spinner"),
            tasks,
            on_result=results.append,
            deadline=time.monotonic() + budget_s,
            stop=threading.Event(),
        )
    elapsed = time.monotonic() - started
    assert (failure.value.stage, failure.value.failure_class) == ("evaluate", "template-timeout"), failure.value
    errors = [r.outcome.error for r in results]
    assert errors.count("template-timeout") == 3 and set(errors) == {"template-timeout"}, errors
    latencies = sorted(r.outcome.latency_s for r in results)
    # Each task cost one render deadline (plus the wait for the engine's fresh render worker), far under the
    # task's own timeout: the engine was free again for the next task each time.
    assert all(render_s * 0.9 <= latency < request_s / 2 for latency in latencies), latencies
    assert elapsed < 3 * request_s + 120, elapsed  # sandbox start included; the budget was 900 s
    print(f"\nspinning template: {len(results)} tasks, latencies {latencies}, evaluation ended after {elapsed:.1f}s")
