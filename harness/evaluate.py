"""Run a task set against an engine, score the answers, and write a report.

Requests go out concurrently up to `evaluation.concurrency` so that a batching engine (sglang, a batched
transformers server) fills its batches; each has a timeout and a token cap. Every raw response, latency, token
count and failure is kept in the report, so a score can be audited and re-scored offline (`harness score`).
The engine is anything with `async chat_completion(payload) -> dict` (see `ChatEngine`); this module does not
import a concrete engine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.evaluate_config import EvaluationConfig
from harness.tasks.taskset import sha256_of
from scoring.aggregate import Estimate, combine, family_estimate
from scoring.caption import CaptionScorer
from scoring.config import ScoringConfig
from scoring.toolcall import check_parsed, parse_message

REPORT_FORMAT = "harness-report/1"


@runtime_checkable
class ChatEngine(Protocol):
    """What evaluation needs from an engine: one OpenAI-compatible chat completion.

    `payload` is the `/v1/chat/completions` body (model, messages, tools, max_tokens, temperature, seed); the
    result is the raw response JSON. Failures raise an exception whose `failure_class` attribute is one of
    `request-timeout`, `bad-response`, `crashed`.
    """

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]: ...


def build_payload(task: dict, model: str, config: EvaluationConfig) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "messages": task["messages"],
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "seed": config.seed,
    }
    if task.get("tools"):
        payload["tools"] = task["tools"]
    return payload


def _message_of(response: Any) -> tuple[dict | None, str | None]:
    """(message, finish_reason) of the first choice, or (None, None) when the shape is wrong."""
    if not isinstance(response, dict):
        return None, None
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, None
    message = choices[0].get("message")
    return (message if isinstance(message, dict) else None), choices[0].get("finish_reason")


def outcome_from_response(task_id: str, response: Any, latency_s: float | None = None) -> dict[str, Any]:
    """A task's record from a raw response; a response without a message is a `bad-response` failure."""
    message, finish = _message_of(response)
    usage = response.get("usage") if isinstance(response, dict) and isinstance(response.get("usage"), dict) else {}
    outcome: dict[str, Any] = {
        "task_id": task_id,
        "content": message.get("content") if message else None,
        "tool_calls": message.get("tool_calls") if message else None,
        "finish_reason": finish,
        "latency_s": latency_s,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "error": None,
        "error_message": None,
        "response": response,
    }
    if message is None:
        outcome["error"], outcome["error_message"] = "bad-response", "response has no choices[0].message"
    return outcome


def failure_outcome(task_id: str, failure: str, message: str, latency_s: float | None = None) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "content": None,
        "tool_calls": None,
        "finish_reason": None,
        "latency_s": latency_s,
        "prompt_tokens": None,
        "completion_tokens": None,
        "error": failure,
        "error_message": message[:500],
        "response": None,
    }


async def _run_one(engine: ChatEngine, task: dict, model: str, config: EvaluationConfig, gate: asyncio.Semaphore):
    async with gate:
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(
                engine.chat_completion(build_payload(task, model, config)), config.request_timeout_s
            )
        except TimeoutError:
            return failure_outcome(
                task["id"],
                "request-timeout",
                f"no answer in {config.request_timeout_s}s",
                time.perf_counter() - started,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the engine's failure is the task's result, not the run's end
            failure = getattr(exc, "failure_class", None) or "engine-error"
            return failure_outcome(
                task["id"], str(failure), f"{type(exc).__name__}: {exc}", time.perf_counter() - started
            )
        return outcome_from_response(task["id"], response, time.perf_counter() - started)


async def run_tasks(engine: ChatEngine, tasks: Sequence[dict], model: str, config: EvaluationConfig) -> list[dict]:
    """All tasks through the engine, at most `config.concurrency` at a time; results in task order."""
    gate = asyncio.Semaphore(config.concurrency)
    return list(await asyncio.gather(*(_run_one(engine, t, model, config, gate) for t in tasks)))


def _text_of(content: Any) -> str:
    """Message text; content given as parts keeps its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


@functools.cache
def _shared_caption_scorer(batch_size: int) -> CaptionScorer:
    """One embedding model per process: loading it costs seconds, rounds come every few minutes."""
    return CaptionScorer(batch_size=batch_size)


def score_outcomes(
    tasks: Sequence[dict],
    outcomes: Sequence[dict],
    scoring: ScoringConfig,
    caption_scorer: CaptionScorer | None = None,
) -> list[dict]:
    """Per-task results: the outcome plus `score` in [0, 1] and what explains it. Failed requests score 0."""
    by_id = {o["task_id"]: o for o in outcomes}
    results: list[dict] = []
    caption_rows: list[int] = []
    for task in tasks:
        outcome = by_id.get(task["id"]) or failure_outcome(task["id"], "missing-output", "no output recorded")
        fields = {k: v for k, v in outcome.items() if k != "task_id"}
        result = {"id": task["id"], "family": task["family"], "category": task["category"], **fields, "score": 0.0}
        if task["family"] == "toolcall" and not outcome["error"]:
            parsed = parse_message({"content": outcome["content"], "tool_calls": outcome["tool_calls"]})
            verdict = check_parsed(task["functions"], parsed, task["possible_answer"], task["category"])
            result.update(
                score=verdict.score(scoring.toolcall_score),
                valid=verdict.valid,
                error_type=verdict.error_type,
                parsed_format=parsed.format,
                calls=parsed.calls,
                partial=vars(verdict.partial),
            )
        elif task["family"] == "caption" and not outcome["error"]:
            caption_rows.append(len(results))
        results.append(result)
    if caption_rows:
        scorer = caption_scorer or _shared_caption_scorer(scoring.caption_batch_size)
        texts = [_text_of(results[i]["content"]) for i in caption_rows]
        by_task = {t["id"]: t for t in tasks}
        scores = scorer.score(
            texts,
            [by_task[results[i]["id"]]["references"] for i in caption_rows],
            [by_task[results[i]["id"]].get("prompt", "") for i in caption_rows],
            scoring.caption_max_words,
            truths=[by_task[results[i]["id"]].get("truth") for i in caption_rows],
        )
        for i, s in zip(caption_rows, scores, strict=True):
            results[i].update(score=s.score, similarity=s.similarity, penalty=s.penalty, flags=list(s.flags))
    return results


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(results: Sequence[dict], family_weights: Mapping[str, float], level: float = 0.95) -> dict[str, Any]:
    """Per-family estimates, per-category means, the competition score, failure counts, latency and tokens."""
    families: dict[str, Any] = {}
    estimates: dict[str, Estimate] = {}
    grouped: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        grouped[r["family"]].append(r)
    for family, rows in sorted(grouped.items()):
        estimate = family_estimate([r["score"] for r in rows], level)
        estimates[family] = estimate
        categories: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            categories[r["category"]].append(r["score"])
        families[family] = {
            **vars(estimate),
            "errors": sum(1 for r in rows if r["error"]),
            "categories": {c: {"mean": statistics.fmean(v), "n": len(v)} for c, v in sorted(categories.items())},
        }
    weights = {f: w for f, w in family_weights.items() if w > 0} or {f: 1.0 for f in estimates}
    latencies = [r["latency_s"] for r in results if isinstance(r.get("latency_s"), int | float)]
    return {
        "score": vars(combine(estimates, weights)) if weights else vars(Estimate(0.0, 0.0, 0.0, 0)),
        "family_weights": weights,
        "families": families,
        "errors": dict(Counter(r["error"] for r in results if r["error"])),
        "latency_s": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
        "tokens": {
            "prompt": sum(r.get("prompt_tokens") or 0 for r in results),
            "completion": sum(r.get("completion_tokens") or 0 for r in results),
        },
    }


def select_tasks(tasks: Sequence[dict], vision: bool) -> tuple[list[dict], list[dict]]:
    """(sent, withheld): caption tasks go only to vision-capable models; withheld ones score 0."""
    sent = [t for t in tasks if vision or t["family"] != "caption"]
    withheld = [t for t in tasks if not vision and t["family"] == "caption"]
    return sent, withheld


def build_report(
    *,
    task_set: dict,
    model: str,
    results: list[dict],
    family_weights: Mapping[str, float],
    evaluation: EvaluationConfig,
    scoring: ScoringConfig,
    competition: str | None = None,
    wall_s: float | None = None,
    tasks_sent: int | None = None,
) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "model": model,
        "competition": competition,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "task_set": {
            "sha256": sha256_of(task_set),
            "seed": task_set.get("seed"),
            "family": task_set.get("family"),
            "n": len(task_set.get("tasks", [])),
        },
        "settings": {"evaluation": evaluation.model_dump(), "scoring": scoring.model_dump()},
        "wall_s": wall_s,
        "tasks_per_s": (tasks_sent / wall_s) if wall_s and tasks_sent else None,
        **summarise(results, family_weights, scoring.ci_level),
        "tasks": results,
    }


async def evaluate(
    engine: ChatEngine,
    task_set: dict,
    *,
    model: str,
    family_weights: Mapping[str, float],
    evaluation: EvaluationConfig | None = None,
    scoring: ScoringConfig | None = None,
    vision: bool = False,
    competition: str | None = None,
    caption_scorer: CaptionScorer | None = None,
) -> dict[str, Any]:
    """The whole run: send, score, summarise. Returns the report (see `write_report`)."""
    evaluation = evaluation or EvaluationConfig()
    scoring = scoring or ScoringConfig()
    sent, withheld = select_tasks(task_set["tasks"], vision)
    started = time.perf_counter()
    outcomes = await run_tasks(engine, sent, model, evaluation)
    wall = time.perf_counter() - started
    outcomes += [failure_outcome(t["id"], "not-vision-capable", "caption task withheld") for t in withheld]
    results = score_outcomes(task_set["tasks"], outcomes, scoring, caption_scorer)
    return build_report(
        task_set=task_set,
        model=model,
        results=results,
        family_weights=family_weights,
        evaluation=evaluation,
        scoring=scoring,
        competition=competition,
        wall_s=wall,
        tasks_sent=len(sent),
    )


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_summary(report: dict[str, Any], worst: int = 5) -> str:
    score = report["score"]
    lines = [
        f"# Evaluation of `{report['model']}`",
        "",
        f"- task set: `{report['task_set']['sha256']}` (seed `{report['task_set']['seed']}`, "
        f"{report['task_set']['n']} tasks)",
        f"- score: **{score['mean']:.3f}** (CI {score['low']:.3f}–{score['high']:.3f}), "
        f"family weights {report['family_weights']}",
        f"- failures: {report['errors'] or 'none'}",
        "",
        "| family | n | mean | CI | failures |",
        "|---|---|---|---|---|",
    ]
    for family, f in report["families"].items():
        lines.append(f"| {family} | {f['n']} | {f['mean']:.3f} | {f['low']:.3f}–{f['high']:.3f} | {f['errors']} |")
    for family, f in report["families"].items():
        lines += ["", f"## {family}", "", "| category | n | mean |", "|---|---|---|"]
        lines += [f"| {c} | {v['n']} | {v['mean']:.3f} |" for c, v in f["categories"].items()]
        rows = sorted((r for r in report["tasks"] if r["family"] == family), key=lambda r: (r["score"], r["id"]))
        if rows and worst:
            lines += ["", f"Worst {min(worst, len(rows))}:", "", "| task | category | score | why | output |"]
            lines.append("|---|---|---|---|---|")
            for r in rows[:worst]:
                why = r.get("error") or r.get("error_type") or ",".join(r.get("flags") or []) or ""
                output = r.get("tool_calls") or r.get("content") or ""
                lines.append(
                    f"| {r['id']} | {r['category']} | {r['score']:.3f} | {_short(why, 40)} | {_short(output)} |"
                )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], json_path: Path, markdown_path: Path | None = None, worst: int = 5) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if markdown_path is not None:
        markdown_path.write_text(markdown_summary(report, worst), encoding="utf-8")
