"""The curator's optional paraphrase step: each question rewritten by a language model, so a batch's text is not
a public dataset's text even when its functions are.

A rewrite is kept only when every value the answer key states in the question is still in the rewritten text
(otherwise the key would no longer be what the question asks); an entry whose rewrite loses one is left out of
the batch, and counted. The model is reached through the project's engine client (any OpenAI-compatible
endpoint: the sandbox engine, sglang, a hosted API), bounded in time and bytes like every engine call.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.feed.curator import PoolLine, check_rows
from harness.sandbox.engine import EngineClient, EngineError

INSTRUCTION = (
    "Rewrite the user's request in different words. Keep its meaning and keep every name, number, date and "
    "quoted value exactly as written. Answer with the rewritten request only."
)


def _values(answer: list[dict[str, Any]]) -> list[list[Any]]:
    """Each parameter's accepted values across the answer key's calls."""
    return [accepted for call in answer for params in call.values() for accepted in params.values()]


def _spelled(value: Any) -> list[str]:
    if isinstance(value, bool) or value is None or value == "":
        return []
    if isinstance(value, int | float | str):
        return [str(value)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _spelled(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _spelled(item)]
    return []


def stated_values(answer: list[dict[str, Any]], text: str) -> list[list[str]]:
    """For each parameter whose value the question states: the spellings of its accepted values found in it."""
    lowered = text.lower()
    out = []
    for accepted in _values(answer):
        found = [s for v in accepted for s in _spelled(v) if s.lower() in lowered]
        if found:
            out.append(found)
    return out


def keeps_values(answer: list[dict[str, Any]], original: str, rewritten: str) -> bool:
    """Does `rewritten` still state every value of the answer key that `original` stated?"""
    lowered = rewritten.lower()
    return all(any(s.lower() in lowered for s in found) for found in stated_values(answer, original))


def _question(row: dict[str, Any]) -> str | None:
    turns = row.get("question")
    first = turns[0] if isinstance(turns, list) and turns and isinstance(turns[0], list) else []
    users = [m for m in first if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1].get("content") if users and isinstance(users[-1].get("content"), str) else None


def _with_question(row: dict[str, Any], text: str) -> dict[str, Any]:
    out = copy.deepcopy(row)
    users = [m for m in out["question"][0] if isinstance(m, dict) and m.get("role") == "user"]
    users[-1]["content"] = text
    return out


@dataclass(frozen=True)
class ParaphraseResult:
    kept: list[PoolLine]
    dropped: list[str]  # ids of entries whose rewrite lost a value (or failed)


async def _rewrite(client: EngineClient, model: str, text: str) -> str | None:
    payload = {
        "model": model,
        "messages": [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": text}],
        "temperature": 0,
        "max_tokens": 512,
    }
    try:
        response = await client.chat_completion(payload)
    except EngineError:
        return None
    choices = response.get("choices") if isinstance(response, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices else None
    content = message.get("content") if isinstance(message, dict) else None
    return content.strip() if isinstance(content, str) and content.strip() else None


async def _paraphrase(lines: Sequence[PoolLine], url: str, model: str, timeout_s: float) -> ParaphraseResult:
    kept, dropped = [], []
    async with EngineClient(None, base_url=url.rstrip("/"), request_timeout=timeout_s, max_concurrency=4) as client:
        rewrites = await asyncio.gather(*(_rewrite(client, model, _question(line.row) or "") for line in lines))
    for number, (line, rewritten) in enumerate(zip(lines, rewrites, strict=True), 1):
        original = _question(line.row)
        ident = str(line.row.get("id", number))
        if original is None or rewritten is None or not keeps_values(line.entry["answer"], original, rewritten):
            dropped.append(ident)
            continue
        kept += check_rows([(number, _with_question(line.row, rewritten))], "paraphrased").accepted
    return ParaphraseResult(kept, dropped)


def paraphrase(
    lines: Sequence[PoolLine], url: str, model: str = "default", timeout_s: float = 120.0
) -> ParaphraseResult:
    """Every line's question rewritten at `url` (an OpenAI-compatible `/v1/chat/completions`); see the module."""
    return asyncio.run(_paraphrase(lines, url, model, timeout_s))
