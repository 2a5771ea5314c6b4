"""Per task, what explains its score: the prompt, the answer, the expected call or the caption's fact check, and
the reason in words.

The state store keeps each task's compact result (score, error, checker verdict, the answer's first 2000
characters), not the task itself; the task is rebuilt from the round's seed and the feed entries the round
recorded, exactly as `harness tasks --epoch` and a resumed round rebuild it (a fraction of a second per
competition), and a few rebuilt sets are cached. A round still running shows no prompts or expected answers:
other validators may still be evaluating that epoch.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from harness.evaluation.stage import SandboxEvaluateStage
from harness.feed.round_feed import recorded_feed
from harness.settings.root import Settings
from harness.state.store import Store
from harness.web.advice import task_advice
from harness.web.results import clip
from scoring.caption_facts import check as check_caption

CACHED_TASK_SETS = 8  # the latest rounds' sets for two competitions (a caption set holds its images: ~2 MB)


class TaskSets:
    """Rebuilt task sets by (round, competition), a few kept; one rebuild at a time (bounded CPU per request)."""

    def __init__(self, settings: Settings, store: Store, size: int = CACHED_TASK_SETS) -> None:
        self.settings = settings
        self.store = store
        self.size = size
        self._cache: OrderedDict[tuple[int, str], dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def tasks(self, round_id: int, competition: str | None) -> dict[str, dict[str, Any]]:
        """Task id -> task of the round's set for `competition` (None: the default); empty when unbuildable."""
        name = competition or self.settings.supervisor.default_competition
        key = (round_id, name)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            built = self._build(round_id, name)
            self._cache[key] = built
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
            return built

    def _build(self, round_id: int, competition: str) -> dict[str, dict[str, Any]]:
        rnd = self.store.read.get_round(round_id)
        if rnd is None or competition not in self.settings.competitions:
            return {}
        seed = rnd.block_hash or str(rnd.block)
        try:
            built = SandboxEvaluateStage(self.settings).task_set(competition, seed, recorded_feed(self.store, rnd.id))
        except Exception:  # a set the current settings cannot rebuild leaves the page without prompts, not broken
            return {}
        return {str(task["id"]): task for task in built.task_set["tasks"]}


def _prompt(task: Mapping[str, Any]) -> str | None:
    """The last user message's text (the request the model answered)."""
    for message in reversed(task.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    prompt = task.get("prompt")
    return prompt if isinstance(prompt, str) else None


def _expected(task: Mapping[str, Any]) -> str | None:
    answer = task.get("possible_answer")
    if answer is not None:
        return json.dumps(answer, ensure_ascii=False, sort_keys=True) if answer else "no call: answer in plain words"
    if task.get("category", "").endswith("irrelevance"):
        return "no call: answer in plain words"
    references = task.get("references")
    if isinstance(references, list) and references:
        return str(references[0])
    return None


def _fact_check(task: Mapping[str, Any], answer: str | None) -> dict[str, Any] | None:
    truth = task.get("truth")
    if not isinstance(truth, dict) or answer is None:
        return None
    try:
        found = check_caption(answer, truth)
    except Exception:  # a caption the reader cannot read is shown without its fact check
        return None
    return {
        "asserted": found.asserted,
        "right": round(found.correct, 4),
        "wrong": list(found.errors),
        "missed": list(found.misses),
        "precision": round(found.precision, 4),
        "recall": round(found.recall, 4),
    }


def explain(row: Mapping[str, Any], task: Mapping[str, Any] | None, max_tokens: int, show_task: bool) -> dict[str, Any]:
    """One task's row for the page: score, answer, prompt and expected (when shown), fact check, why."""
    details = row["details"]
    answer = details.get("content") if isinstance(details.get("content"), str) else None
    calls = details.get("tool_calls")  # kept when the store's compact result carries it (native tool calls)
    if calls:
        shown_calls = json.dumps(calls, ensure_ascii=False, sort_keys=True, default=str)
        answer = f"{answer}\n{shown_calls}" if answer else shown_calls
    reason = details.get("error") or details.get("error_type")
    completion = details.get("completion_tokens")
    truncated = details.get("finish_reason") == "length" or (isinstance(completion, int) and completion >= max_tokens)
    why = []
    if reason:
        why.append(str(reason))
    if truncated:
        why.append(f"answer cut at the token cap ({max_tokens})")
    if not why and row["score"] >= 1.0:
        why.append("correct")
    elif not why and details.get("family") == "caption":
        why.append("caption similarity and facts (docs/captions.md)")
    shown = task if show_task else None
    return {
        "id": row["id"],
        "family": details.get("family"),
        "category": details.get("category"),
        "score": row["score"],
        "answer": clip(answer),
        "prompt": clip(_prompt(shown)) if shown else None,
        "expected": clip(_expected(shown)) if shown else None,
        "facts": _fact_check(shown, answer) if shown else None,
        "why": "; ".join(why) or None,
        "advice": task_advice(str(reason)) if reason else (task_advice("truncated") if truncated else None),
        "truncated": truncated,
    }
