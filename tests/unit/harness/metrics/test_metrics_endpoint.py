"""`/metrics` over HTTP after real rounds: the real supervisor, local chain, state store and evaluation stage (real
task sets and scoring); only the engine is scripted, at the sandbox boundary, and one sandbox "runs out of memory"
the way the real opener reports it (a `sandbox/oom` stage failure).

What would break: the wiring in `harness.round.service.status_endpoint`, a store query that counts the wrong rows,
weights age computed from the wrong record, the progress events not reaching the metrics processor.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chain.local import LocalChain
from harness.errors import StageFailure
from harness.evaluation.stage import SandboxEvaluateStage
from harness.fingerprint import scoring_fingerprint
from harness.models.prepare import PreparedModel
from harness.round.executors.local import single_slot
from harness.round.service import status_endpoint
from harness.round.supervisor import Supervisor
from harness.sandbox.interface import Sandbox
from harness.settings.root import Settings
from harness.state.reveals import watch_weights
from harness.state.store import Store
from tests.support.log_events import LogEvents
from tests.support.rounds import commit

TASKS = 4
WORDS = "org/hk-words-model"


def scrape(port: int) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    """GET /metrics: (sample name, sorted labels) -> value, and the content type."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
        content_type = response.headers["Content-Type"]
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return samples, content_type


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


class WordsEngine:
    """Answers every task in plain words; on its third request it scrapes /metrics, mid-evaluation."""

    def __init__(self, on_request: Any) -> None:
        self.requests = 0
        self.on_request = on_request

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        self.on_request(self.requests)
        message = {"role": "assistant", "content": "I would rather talk about it.", "tool_calls": None}
        return {"choices": [{"message": message, "finish_reason": "stop"}], "usage": {"prompt_tokens": 7}}


class ScriptedSandbox(Sandbox):
    def __init__(self, engine: WordsEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def client(self, **_limits: Any) -> AsyncIterator[WordsEngine]:
        yield self.engine

    def health(self) -> bool:
        return True

    def classify(self, exc: BaseException) -> StageFailure:
        return StageFailure("sandbox", "crashed", str(exc))


def test_metrics_after_real_rounds(tmp_path: Path, chain: LocalChain, json_logs: LogEvents) -> None:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        tasks={"toolcall_n": TASKS},
        evaluation={"concurrency": 1},
        supervisor={"default_competition": "toolcall", "status_port": 0, "status_host": "127.0.0.1"},
    )
    for hotkey, tag in (("hk-words", "a"), ("hk-oom", "b"), ("hk-pickle", "c")):
        commit(chain, hotkey, f"org/{hotkey}-model", tag)
    store = Store(tmp_path / "state.sqlite")
    mid_evaluation: list[dict] = []
    port: list[int] = []

    def prepare(record: Any, _settings: Settings) -> PreparedModel:
        if record.hotkey == "hk-pickle":
            raise StageFailure("policy", "rejected", "pickle: pytorch_model.bin")
        hotkey = record.hotkey
        return PreparedModel(Path("/nonexistent") / hotkey, f"identity-{hotkey}", {"hotkey": hotkey})

    def on_request(count: int) -> None:
        if count == 3 and not mid_evaluation:  # two tasks finished (one request in flight at a time)
            mid_evaluation.append(scrape(port[0])[0])

    @contextlib.contextmanager
    def opener(prepared: PreparedModel, _competition: str) -> Iterator[ScriptedSandbox]:
        if prepared.facts["hotkey"] == "hk-oom":  # what open_docker_sandbox raises for an OOM-killed engine
            raise StageFailure("sandbox", "oom", "killed for exceeding the memory limit 4294967296 bytes")
        yield ScriptedSandbox(WordsEngine(on_request))

    stage = SandboxEvaluateStage(settings, open_sandbox=opener)
    supervisor = Supervisor(settings, chain, store, executor=single_slot(), evaluate=stage, prepare=prepare)
    with status_endpoint(supervisor) as server:
        assert server is not None
        port.append(server.port)
        counters = []  # the store's counters after each round: never lower than after the one before
        for _ in range(2):
            supervisor.run_round()
            chain.advance(1)
            counters.append({k: v for k, v in scrape(server.port)[0].items() if k[0].endswith("_total")})
        chain.advance(7)
        watch_weights(store, chain)  # what the service loop does before each round: reads LastUpdate
        fingerprint = scoring_fingerprint().value
        deadline = time.monotonic() + 30
        while True:  # the fingerprint is computed in the background after the first scrape
            before = time.time()
            samples, content_type = scrape(server.port)
            after = time.time()
            if value(samples, "harness_scoring_fingerprint_info", value=fingerprint) or time.monotonic() > deadline:
                break
            time.sleep(0.2)

    assert content_type.startswith("text/plain; version=0.0.4")
    assert counters[0] and counters[0].keys() <= counters[1].keys()
    assert all(counters[1][key] >= counters[0][key] for key in counters[0])
    assert counters[1][("harness_rounds_total", (("status", "done"),))] == 2
    # rounds
    assert value(samples, "harness_rounds_total", status="done") == 2
    assert value(samples, "harness_rounds_total", status="failed") == 0
    assert value(samples, "harness_round_current") == 2
    assert value(samples, "harness_round_running") == 0
    # failures by class: each round, the OOM-killed sandbox and the rejected pickle
    failures = {
        dict(labels)["stage"] + "/" + dict(labels)["failure_class"]: v
        for (name, labels), v in samples.items()
        if name == "harness_failures_total"
    }
    recorded = {
        f"{s}/{c}": n for s, c, n in store.db.query("SELECT stage, class, COUNT(*) FROM failures GROUP BY 1, 2")
    }
    assert failures["sandbox/oom"] == 2 and failures["policy/rejected"] == 2
    assert failures == recorded
    assert value(samples, "harness_evaluations_total", status="failed") == 2  # the OOM, once per round
    assert value(samples, "harness_evaluations_total", status="done") == 2
    # weights: age from the last record's time, blocks since LastUpdate as the chain says
    set_at = store.db.query("SELECT set_at FROM weights_set ORDER BY round_id DESC LIMIT 1")[0][0]
    age = value(samples, "harness_last_weights_age_seconds")
    assert age is not None and before - set_at - 0.01 <= age <= after - set_at + 0.01
    assert value(samples, "harness_last_weights_timestamp_seconds") == pytest.approx(set_at)
    assert value(samples, "harness_weights_set_total") == 2
    activity = chain.validator_activity()
    assert activity.blocks_since >= 7
    assert value(samples, "harness_blocks_since_weights") == activity.blocks_since
    assert value(samples, "harness_activity_cutoff_blocks") == activity.activity_cutoff
    assert value(samples, "harness_pending_reveals") == 0  # set in the clear: nothing to reveal
    assert value(samples, "harness_scoring_fingerprint_info", value=fingerprint) == 1
    free = value(samples, "harness_cache_disk_free_bytes")
    assert free is not None and 0 < free <= value(samples, "harness_cache_disk_size_bytes")  # type: ignore[operator]

    # mid-evaluation: the model in progress and its task count, from the stage's task.progress events
    during = mid_evaluation[0]
    assert value(during, "harness_model_in_progress", model=WORDS) == 1
    assert value(during, "harness_tasks_total", model=WORDS) == TASKS
    assert value(during, "harness_tasks_done", model=WORDS) == 2
    assert value(during, "harness_round_running") == 1
    # and gone once the model's evaluation concluded
    assert not [key for key in samples if key[0] == "harness_model_in_progress"]

    progress = [e for e in json_logs() if e["event"] == "task.progress"]
    first_round = progress[: TASKS + 1]
    assert [(e["model"], e["done"], e["total"]) for e in first_round] == [(WORDS, n, TASKS) for n in range(TASKS + 1)]


def test_pending_reveals_follow_the_chain_under_commit_reveal(tmp_path: Path) -> None:
    """Weights committed under commit-reveal count as pending until the chain reveals them."""
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, commit_reveal_blocks=5)
    commit(chain, "hk", "org/hk-model", "a")
    store = Store(tmp_path / "state.sqlite")
    settings = Settings(cache_dir=tmp_path / "cache", supervisor={"status_port": 0})

    def evaluate(_prepared: PreparedModel, request: Any) -> Any:
        from harness.evaluation.contract import EvaluationOutcome

        request.record("t0", 0.5, None)
        return EvaluationOutcome(score=0.5, details={"competition": request.competition})

    def prepare(record: Any, _settings: Settings) -> PreparedModel:
        return PreparedModel(Path("/nonexistent"), "identity", {"hotkey": record.hotkey})

    supervisor = Supervisor(settings, chain, store, executor=single_slot(), evaluate=evaluate, prepare=prepare)
    with status_endpoint(supervisor) as server:
        assert server is not None
        supervisor.run_round()
        watch_weights(store, chain)
        pending = value(scrape(server.port)[0], "harness_pending_reveals")
        chain.advance(6)
        watch_weights(store, chain)
        revealed = value(scrape(server.port)[0], "harness_pending_reveals")
    assert (pending, revealed) == (1, 0)


def test_broken_store_answers_500_and_the_endpoint_survives(tmp_path: Path, chain: LocalChain) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", supervisor={"status_port": 0})
    store = Store(tmp_path / "state.sqlite")
    supervisor = Supervisor(settings, chain, store, executor=single_slot(), evaluate=lambda *_: None)
    with status_endpoint(supervisor) as server:
        assert server is not None
        store.db.query("DROP TABLE weights_set")
        with pytest.raises(urllib.error.HTTPError) as info:
            scrape(server.port)
        assert info.value.code == 500 and json.loads(info.value.read()) == {"error": "OperationalError"}
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
            assert response.status == 200
