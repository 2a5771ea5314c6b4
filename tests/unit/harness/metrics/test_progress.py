"""`task.progress` at a steady pace, the metrics processor's view of it, and no progress bars inside JSON logs."""

from __future__ import annotations

import subprocess
import sys
import time

import structlog
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.logging import configure_logging, get_logger
from harness.metrics.events import REGISTRY
from harness.metrics.progress import EVENT, TaskProgress
from tests.support.log_events import LogEvents


def _progress(events: list[dict]) -> list[tuple[str, int, int]]:
    return [(e["model"], e["done"], e["total"]) for e in events if e["event"] == EVENT]


def test_progress_every_n_tasks_and_at_the_last(json_logs: LogEvents) -> None:
    with TaskProgress("org/m", total=10, done=1, every_tasks=3, every_s=3600) as progress:
        for _ in range(9):
            progress.task_done()
    assert _progress(json_logs()) == [("org/m", n, 10) for n in (1, 3, 6, 9, 10)]


def test_default_pace_is_about_twenty_lines_per_model(json_logs: LogEvents) -> None:
    with TaskProgress("org/m", total=1000, every_s=3600) as progress:
        for _ in range(1000):
            progress.task_done()
    assert [done for _m, done, _t in _progress(json_logs())] == list(range(0, 1001, 50))


def test_heartbeat_while_no_task_finishes_and_silence_after_the_end(json_logs: LogEvents) -> None:
    with TaskProgress("org/slow", total=5, done=2, every_s=0.05):
        time.sleep(0.5)
    during = _progress(json_logs())
    time.sleep(0.2)
    assert 5 <= len(during) <= 11  # one at the start, then one per 50 ms (a loaded machine may skip some)
    assert set(during) == {("org/slow", 2, 5)}
    assert len(_progress(json_logs())) == len(during)  # the heartbeat stopped with the block


def _samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = generate_latest(REGISTRY).decode()
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_metrics_see_progress_below_the_log_level_and_forget_a_concluded_model(json_logs: LogEvents) -> None:
    configure_logging("warning", json=True)  # an operator who logs warnings only still gets the metrics
    log = get_logger("test")
    log.info(EVENT, model="org/a", done=3, total=8)
    log.info(EVENT, model="org/b", done=1, total=2)  # two sandbox slots: two models at once
    assert _samples("harness_tasks_done")[(("model", "org/a"),)] == 3
    assert _samples("harness_tasks_total")[(("model", "org/b"),)] == 2
    assert set(_samples("harness_model_in_progress")) >= {(("model", "org/a"),), (("model", "org/b"),)}
    log.info("evaluated", model="org/a", score=0.5)
    assert (("model", "org/a"),) not in _samples("harness_model_in_progress")
    assert (("model", "org/a"),) not in _samples("harness_tasks_done")
    assert _samples("harness_tasks_done")[(("model", "org/b"),)] == 1
    log.info("evaluation failed", model="org/b", failure="oom")
    assert (("model", "org/b"),) not in _samples("harness_model_in_progress")
    assert _progress(json_logs()) == []  # below the level: not printed
    structlog.reset_defaults()


BAR = "from tqdm import tqdm\nfor _ in tqdm(range(3), desc='Loading weights'): pass\n"


def _stderr_of(code: str) -> str:
    env_free = "import os\nfor k in ('TQDM_DISABLE', 'HF_HUB_DISABLE_PROGRESS_BARS'): os.environ.pop(k, None)\n"
    result = subprocess.run([sys.executable, "-c", env_free + code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_no_progress_bar_inside_json_logs() -> None:
    assert "Loading weights" in _stderr_of(BAR)  # the bar a library draws on stderr...
    configured = "from harness.logging import configure_logging\nconfigure_logging('info', json=True)\n"
    assert "Loading weights" not in _stderr_of(configured + BAR)  # ...is off once logs are JSON
