"""A real round for the results page's tests: the real supervisor, local chain, state store and evaluation stage
(real task sets, real tool-call and caption scoring); only the engine is scripted, at the sandbox boundary.

Three miners answer differently (plain words, half the calls right, every call right) and a fourth, committed
last, answers like the best (a copy, covered), so the leaderboard, weights and per-task reasons differ. A fifth
model with a hostile repository name and answer (markup, ESC, RLO) is written through the real Store API, since
a commitment with such a name would be refused before it reached the store.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from chain.local import LocalChain
from harness.errors import StageFailure
from harness.evaluation.stage import SandboxEvaluateStage
from harness.models.prepare import PreparedModel
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.sandbox.interface import Sandbox
from harness.settings.root import Settings
from harness.state.store import Store
from tests.support.bfcl_support import calls_from_truth
from tests.support.rounds import commit

HOSTILE = "<script>alert(1)</script>\x1b[31mRED\u202egnp.exe"
MINERS = {"hk-words": "words", "hk-some": "some", "hk-good": "good", "hk-late-copy": "good"}
"""In commit order: each later one but the copy beats every earlier one; the copy answers like `hk-good`."""
CONTENT_TAGS = {"hk-words": "a", "hk-some": "b", "hk-good": "c", "hk-late-copy": "d"}


def _response(content: str | None, tool_calls: list | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "tool_calls": tool_calls}
    return {"choices": [{"message": message, "finish_reason": "stop"}], "usage": {"prompt_tokens": 7}}


class ScriptedEngine:
    """Answers each task as its miner's behaviour says: `good` every expected call and a reference caption,
    `some` the expected call on every other task, `words` plain words only."""

    def __init__(self, behaviour: str, tasks: dict[str, dict[str, Any]]) -> None:
        self.behaviour = behaviour
        self.by_prompt = {json.dumps(t["messages"], sort_keys=True): t for t in tasks.values()}

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        task = self.by_prompt[json.dumps(payload["messages"], sort_keys=True)]
        index = int(task["id"].rsplit("-", 1)[-1])
        right = self.behaviour == "good" or (self.behaviour == "some" and index % 2 == 0)
        if task["family"] == "caption":
            return _response(task["references"][0] if right else "A picture.")
        calls = calls_from_truth(task["possible_answer"], 0) if right else []
        native = [
            {"type": "function", "function": {"name": n, "arguments": json.dumps(v)}}
            for c in calls
            for n, v in c.items()
        ]
        return _response(None if native else "I would rather talk about it.", native or None)


class ScriptedSandbox(Sandbox):
    def __init__(self, engine: ScriptedEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def client(self, **_limits: Any) -> AsyncIterator[ScriptedEngine]:
        yield self.engine

    def health(self) -> bool:
        return True

    def classify(self, exc: BaseException) -> StageFailure:
        return StageFailure("sandbox", "crashed", str(exc))


def settings_for(tmp_path: Path, competition: str = "toolcall") -> Settings:
    return Settings(
        cache_dir=tmp_path / "cache",
        tasks={"toolcall_n": 12, "caption_n": 2},
        evaluation={"concurrency": 2},
        supervisor={"default_competition": competition},
    )


def build_rounds(tmp_path: Path, rounds: int = 2, competition: str = "toolcall") -> tuple[Settings, Store, LocalChain]:
    """`rounds` finished rounds of the three scripted miners, then the hostile model added to the last one."""
    settings = settings_for(tmp_path, competition)
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=1)
    for hotkey in MINERS:
        commit(chain, hotkey, f"org/{hotkey}-model", CONTENT_TAGS[hotkey])
    store = Store(tmp_path / "state.sqlite")

    def prepare(record: Any, _settings: Settings) -> PreparedModel:
        return PreparedModel(
            model_dir=Path("/nonexistent") / record.hotkey,
            identity=f"identity-{record.hotkey}",
            facts={"hotkey": record.hotkey, "vision": True},
        )

    @contextlib.contextmanager
    def opener(prepared: PreparedModel, name: str) -> Iterator[ScriptedSandbox]:
        rnd = store.read.current_round()
        assert rnd is not None
        tasks = stage.task_set(name, rnd.block_hash or str(rnd.block)).task_set["tasks"]
        yield ScriptedSandbox(ScriptedEngine(MINERS[prepared.facts["hotkey"]], {t["id"]: t for t in tasks}))

    stage = SandboxEvaluateStage(settings, open_sandbox=opener)
    supervisor = Supervisor(settings, chain, store, executor=single_slot(), evaluate=stage, prepare=prepare)
    for _ in range(rounds):
        supervisor.run_round()
        chain.advance(1)
    add_hostile_model(store)
    return settings, store, chain


def add_hostile_model(store: Store) -> int:
    """A model whose name and answer are hostile text, judged and evaluated in the last round (real Store API)."""
    round_id = store.read.latest_round().id  # type: ignore[union-attr]
    model = store.record_model(
        hotkey="hk-hostile", repo=f"org/{HOSTILE}", revision="b" * 40, content_hash="d" * 64, commit_block=1, uid=9
    )
    store.record_verdict(round_id, model.id, False, [{"rule": "format", "message": f"bad file {HOSTILE}"}])
    evaluation = store.start_evaluation(round_id, model.id, "identity-hostile")
    store.record_task_result(
        evaluation.id, "tc-0000", 0.0, {"family": "toolcall", "category": "simple", "content": HOSTILE, "error": None}
    )
    store.finish_evaluation(evaluation.id, 0.0, {"score": {"mean": 0.0, "low": 0.0, "high": 0.0, "n": 1}})
    store.record_failure(round_id, f"model:{model.id}", "policy", "rejected", f"hostile {HOSTILE}")
    return model.id
