"""`harness report ROUND`'s payload: what the store recorded about a round, plus why each number is what it is.

`Store.read.report` says what was decided (verdicts, evaluations, failures, weights). A miner also needs why: how
the weight follows from this round's score (the moving score and standing, the weight rule and its inputs), what
each task scored and why, which tasks were withheld, which answers hit the token cap, and whether a model counted
as a copy. Everything here is read from the store (per-task results, moving scores and standings before and after
the round, the round's failure notes); only the rule's settings come from this validator's configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.state.store import Store
from harness.views.explain import family_zero_reason, reason_groups, truncated, withheld_counts
from scoring.config import ScoringConfig

_VERDICT_STAGES = {"dedupe": ("copy", "near-copy"), "weights": ("covered",)}


def weight_rule(scoring: ScoringConfig) -> dict[str, Any]:
    """The weight rule's inputs and the rule in words (this validator's settings)."""
    method = scoring.weights_method
    ratio = math.exp(0.1 / scoring.softmax_temperature)
    rule = {
        "winrate": (
            "each round, a model's standing is its win rate against the other models of its competition (0 when "
            "covered: a later model not better than an earlier one by the margin and the sign test); the moving "
            f"standing is an EMA (alpha {scoring.ema_alpha}); weight = softmax(moving standing / "
            f"{scoring.softmax_temperature}): a standing 0.1 higher gets {ratio:.1f}x "
            "the weight"
        ),
        "softmax": (
            f"moving score = EMA of round scores (alpha {scoring.ema_alpha}); weight = softmax(moving score / "
            f"{scoring.softmax_temperature})"
        ),
        "proportional": f"moving score = EMA of round scores (alpha {scoring.ema_alpha}); weight proportional to it",
    }[method]
    return {
        "method": method,
        "ema_alpha": scoring.ema_alpha,
        "softmax_temperature": scoring.softmax_temperature,
        "new_model_prior": scoring.new_model_prior,
        "copy_margin": scoring.copy_margin,
        "copy_level": scoring.copy_level,
        "rule": rule,
    }


def _model_verdicts(report: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Per model id: its verdict label (`rejected`, `copy`, `covered`, `allowed`) and the note that says so."""
    notes: dict[int, dict[str, Any]] = {}
    for failure in report.get("failures") or []:
        subject = str(failure.get("subject") or "")
        if not subject.startswith("model:") or not subject[6:].isdigit():
            continue
        model_id = int(subject[6:])
        label = failure.get("class")
        if label in _VERDICT_STAGES.get(str(failure.get("stage")), ()):
            notes.setdefault(model_id, {})[str(label)] = failure.get("reason")
    out = {}
    for m in report.get("models") or []:
        mine = notes.get(m["model_id"], {})
        if not m["allowed"]:
            label, why = "rejected", None
        elif "copy" in mine:
            label, why = "copy", mine["copy"]
        elif "covered" in mine:
            label = "near-copy, covered" if "near-copy" in mine else "covered"
            why = mine["covered"]
        elif "near-copy" in mine:
            label, why = "allowed (near-copy signal)", mine["near-copy"]
        else:
            label, why = "allowed", None
        out[m["model_id"]] = {"verdict": label, "verdict_note": why}
    return out


def _standing(after: float | None, before: float | None, alpha: float) -> float | None:
    """This round's standing recovered from the moving standing before and after (after = a*s + (1-a)*before)."""
    if after is None:
        return None
    if before is None:
        return after
    return max(0.0, min(1.0, (after - (1 - alpha) * before) / alpha))


def explained_report(
    store: Store, round_id: int, scoring: ScoringConfig, max_tokens: int | None, *, task_rows: bool = True
) -> dict[str, Any]:
    """`store.read.report(round_id)` with the weight rule, per-model moving score and standing (before, this
    round, after), weight, verdict label, and per evaluation its task results with reasons (one consistent
    snapshot)."""
    read = store.read
    with read.db.snapshot():
        report = read.report(round_id)
        scores_after = read.moving_scores(round_id) or {}
        scores_before = read.moving_scores_before(round_id)
        standing_after = read.moving_standings(round_id) or {}
        standing_before = read.moving_standings_before(round_id)
        evaluations = read.evaluations(round_id)
        tasks = {e.id: read.task_results(e.id) for e in evaluations} if task_rows else {}
    by_model = {e.model_id: e.id for e in evaluations}
    verdicts = _model_verdicts(report)
    for m in report.get("models") or []:
        m.update(verdicts.get(m["model_id"], {}))
    weights = report.get("weights") or {}
    weight_of = dict(zip(weights.get("uids") or [], weights.get("weights") or [], strict=False))
    prior = scoring.new_model_prior
    for e in report.get("evaluations") or []:
        key = (e["hotkey"], e["content_hash"])
        before = standing_before.get(key, prior)
        e.update(verdicts.get(e["model_id"], {}))
        e["moving_score_before"] = scores_before.get(key, prior)
        e["moving_score"] = scores_after.get(key)
        e["moving_standing_before"] = before
        e["round_standing"] = _standing(standing_after.get(key), before, scoring.ema_alpha)
        e["moving_standing"] = standing_after.get(key)
        e["weight"] = float(weight_of.get(e["uid"], 0.0)) if e.get("uid") is not None else 0.0
        rows = [
            {"id": task, "score": score, **(details or {})}
            for task, (score, details) in sorted(tasks.get(by_model.get(e["model_id"], -1), {}).items())
        ]
        for row in rows:
            row["truncated"] = truncated(row, max_tokens)
        e["tasks"] = rows
        e["reasons"] = reason_groups(rows, max_tokens)
        e["withheld"] = withheld_counts(rows)
        e["truncated"] = sum(1 for r in rows if r["truncated"])
        families = (e.get("details") or {}).get("families") or {}
        e["family_reasons"] = {
            f: family_zero_reason(f, rows, max_tokens)
            for f, v in sorted(families.items())
            if isinstance(v, Mapping) and float(v.get("mean") or 0.0) <= 0
        }
        e["why"] = evaluation_why(e)
    report["weight_rule"] = weight_rule(scoring)
    report["max_tokens"] = max_tokens
    report["expected_calls"] = expected_calls_hint(report)
    return report


def evaluation_why(e: Mapping[str, Any]) -> str:
    """Why an evaluation's weight is what it is, in one line: a failed run, a zero score and its families'
    reasons, a copy, covered (and by whom)."""
    parts = []
    if e.get("status") == "failed":
        parts.append("the evaluation failed (see the failures table): a failed evaluation scores 0 this round")
    elif e.get("score") is not None and float(e["score"]) <= 0:
        reasons = [f"{f}: {r}" for f, r in (e.get("family_reasons") or {}).items() if r]
        parts.append("scored 0 (" + "; ".join(reasons) + ")" if reasons else "scored 0 on every task")
    elif e.get("family_reasons"):
        parts += [f"{f} 0: {r}" for f, r in e["family_reasons"].items() if r]
    verdict = e.get("verdict")
    if verdict == "copy":
        parts.append(f"copy: {e.get('verdict_note')}; a copy earns nothing")
    elif verdict in ("covered", "near-copy, covered"):
        parts.append(f"covered: {e.get('verdict_note')}; a covered model stands at 0 this round")
    return "; ".join(parts)


def expected_calls_hint(report: Mapping[str, Any]) -> str | None:
    """How to see the expected tool calls of a round (its stored results keep the answers, not the tasks): the
    round's tool-call set rebuilt from its seed and feed epoch, as an auditor does."""
    rnd = report.get("round") or {}
    tool_zero = any(
        g.get("family") == "toolcall" and not g["example"].get("expected")
        for e in report.get("evaluations") or []
        for g in e.get("reasons") or []
    )
    if not tool_zero or not rnd.get("block_hash"):
        return None
    epoch = f" --epoch {rnd['block']}" if rnd.get("block") is not None else ""
    return (
        f"expected tool calls: harness tasks --family toolcall --seed {rnd['block_hash']}{epoch} --out tasks.json "
        "(rebuilds this round's tool-call tasks with their accepted answers; feed tasks need tasks.feed_url)"
    )
