"""What the results page and the signed round document say about a round, read from the state database.

One function per view, each a bounded number of queries (never one per task): the leaderboard with the inputs of
each weight (this round's score and interval, the moving score and the moving standing before and after, the
weight set on chain) and the rule that links them; a model's history across rounds; a model's tasks with what
explains each score. Every list is capped (`Limits`), so a page costs the same whatever a miner commits.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from harness.state.queries import StateReadModel
from harness.web.advice import advice_for
from scoring.config import ScoringConfig


@dataclass(frozen=True)
class Limits:
    models: int = 256
    """Rows of a leaderboard (the supervisor's default `max_models_per_round`)."""
    history_rounds: int = 60
    """Rounds in a score-history plot."""
    tasks: int = 400
    """Tasks listed per model."""
    text_chars: int = 2000
    """Characters of one prompt, answer or reason."""
    failures: int = 200
    """Failures listed per round."""


LIMITS = Limits()


def clip(text: Any, limit: int = LIMITS.text_chars) -> str | None:
    """`text` as a string of at most `limit` characters (marked when cut); None stays None."""
    if text is None:
        return None
    value = text if isinstance(text, str) else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def latest_round_id(read: StateReadModel) -> int | None:
    """The round a visitor most likely wants: the latest that has a verdict (a model judged), else the latest."""
    rows = read.db.query("SELECT MAX(round_id) FROM verdicts")
    if rows[0][0] is not None:
        return int(rows[0][0])
    latest = read.latest_round()
    return latest.id if latest is not None else None


def round_ids(read: StateReadModel, limit: int = 20) -> list[int]:
    return [int(r[0]) for r in read.db.query("SELECT id FROM rounds ORDER BY id DESC LIMIT ?", (limit,))]


def _identities(read: StateReadModel, round_id: int) -> dict[int, tuple[str | None, str | None, int]]:
    """model id -> (content identity, competition, commit block) for the models judged in the round."""
    rows = read.db.query(
        """SELECT m.id, i.identity, m.competition, m.commit_block FROM verdicts v JOIN models m ON m.id = v.model_id
           LEFT JOIN model_identities i ON i.model_id = m.id WHERE v.round_id=?""",
        (round_id,),
    )
    return {int(r[0]): (r[1], r[2], int(r[3])) for r in rows}


def weight_rule(scoring: ScoringConfig) -> str:
    """The rule from the inputs to the weights, in words (docs/scoring.md)."""
    alpha, temperature = scoring.ema_alpha, scoring.softmax_temperature
    prior = "its first round's value" if scoring.new_model_prior is None else f"{scoring.new_model_prior:g}"
    if scoring.weights_method == "winrate":
        return (
            f"round standing = the model's win rate among its competition's incumbents (0 when an earlier model is "
            f"not beaten by {scoring.copy_margin:g} with a sign test at {scoring.copy_level:g}, or when it scored 0); "
            f"moving standing = {alpha:g} × round standing + {1 - alpha:g} × previous (a new model starts at {prior}); "
            f"weight = softmax of the moving standings at temperature {temperature:g} (a standing ≤ 0 gets nothing)"
        )
    if scoring.weights_method == "softmax":
        return (
            f"moving score = {alpha:g} × round score + {1 - alpha:g} × previous (a new model starts at {prior}); "
            f"weight = softmax of the moving scores at temperature {temperature:g}"
        )
    return (
        f"moving score = {alpha:g} × round score + {1 - alpha:g} × previous (a new model starts at {prior}); "
        "weight = moving score / sum of the moving scores"
    )


def _round_value(after: float | None, before: float | None, scoring: ScoringConfig) -> float | None:
    """This round's input to a moving value, recovered from the values before and after (the EMA inverted)."""
    if after is None:
        return None
    base = before if before is not None else scoring.new_model_prior
    if base is None:
        return after
    return (after - (1 - scoring.ema_alpha) * base) / scoring.ema_alpha


def _share(values: dict[Any, float], key: Any, scoring: ScoringConfig) -> float | None:
    """`key`'s share under the weights rule computed from `values` (the page shows it beside the recorded weight)."""
    eligible = {k: v for k, v in values.items() if v > 0 and math.isfinite(v)}
    if key not in eligible:
        return 0.0 if values else None
    if scoring.weights_method == "proportional":
        return eligible[key] / sum(eligible.values())
    top = max(eligible.values())
    exps = {k: math.exp((v - top) / scoring.softmax_temperature) for k, v in eligible.items()}
    return exps[key] / sum(exps.values())


def round_view(read: StateReadModel, round_id: int, scoring: ScoringConfig, limits: Limits = LIMITS) -> dict[str, Any]:
    """The leaderboard of one round: every judged model with its verdict, score, moving values, weight and
    failures, best weight first; plus the round's own failures and the weights rule."""
    with read.db.snapshot():
        report = read.report(round_id)
        identities = _identities(read, round_id)
        scores_before, scores_after = read.moving_scores_before(round_id), read.moving_scores(round_id) or {}
        standing_before = read.moving_standings_before(round_id)
        standing_after = read.moving_standings(round_id) or {}
    evaluations = {e["model_id"]: e for e in report["evaluations"]}
    weights = report["weights"] or {}
    by_uid = dict(zip(weights.get("uids") or [], weights.get("weights") or [], strict=False))
    ranked = standing_after if scoring.weights_method == "winrate" else scores_after
    failures: dict[int, list[dict[str, Any]]] = {}
    round_failures = []
    for failure in report["failures"][: limits.failures]:
        item = {
            "stage": failure["stage"],
            "class": failure["class"],
            "reason": clip(failure["reason"]),
            "advice": advice_for(failure["stage"], failure["class"]),
        }
        subject = str(failure["subject"])
        if subject.startswith("model:") and subject[6:].isdigit():
            failures.setdefault(int(subject[6:]), []).append(item)
        else:
            round_failures.append({"subject": subject, **item})
    rows = []
    for model in report["models"][: limits.models]:
        identity, competition, _block = identities.get(model["model_id"], (None, None, model["commit_block"]))
        key = (model["hotkey"], identity) if identity is not None else None
        evaluation = evaluations.get(model["model_id"])
        details = (evaluation or {}).get("details") or {}
        estimate = details.get("score") if isinstance(details.get("score"), dict) else {}
        before_s, after_s = scores_before.get(key) if key else None, scores_after.get(key) if key else None
        before_t, after_t = standing_before.get(key) if key else None, standing_after.get(key) if key else None
        evaluated = evaluation is not None and evaluation["status"] == "done"
        families = details.get("families") if isinstance(details.get("families"), dict) else {}
        rows.append(
            {
                "model_id": model["model_id"],
                "hotkey": model["hotkey"],
                "uid": model["uid"],
                "repo": model["repo"],
                "revision": model["revision"],
                "content_hash": model["content_hash"],
                "identity": identity,
                "competition": competition or details.get("competition"),
                "commit_block": model["commit_block"],
                "allowed": model["allowed"],
                "violations": [
                    {"rule": v.get("rule"), "message": clip(v.get("message"))}
                    for v in (model["violations"] or [])[:50]
                    if isinstance(v, dict)
                ],
                "evaluation": None
                if evaluation is None
                else {
                    "status": evaluation["status"],
                    "score": _finite(evaluation["score"]),
                    "low": _finite(estimate.get("low")),
                    "high": _finite(estimate.get("high")),
                    "tasks_done": evaluation["tasks_done"],
                    "errors": details.get("errors") if isinstance(details.get("errors"), dict) else {},
                    "budget_exceeded": bool(details.get("budget_exceeded")),
                    "families": {
                        str(name): {
                            "mean": _finite(f.get("mean")),
                            "low": _finite(f.get("low")),
                            "high": _finite(f.get("high")),
                            "n": f.get("n"),
                            "errors": f.get("errors"),
                        }
                        for name, f in sorted(families.items())
                        if isinstance(f, dict)
                    },
                    "family_weights": details.get("family_weights") or {},
                },
                "moving_score": {"before": before_s, "after": after_s},
                "standing": {
                    "before": before_t,
                    "round": _round_value(after_t, before_t, scoring) if evaluated else None,
                    "after": after_t,
                },
                "weight": _finite(by_uid.get(model["uid"])) if model["uid"] is not None else None,
                "computed_share": _share(ranked, key, scoring) if key is not None else None,
                "failures": failures.get(model["model_id"], []),
            }
        )
    rows.sort(key=_rank)
    return {
        "round": report["round"],
        "models": rows,
        "failures": round_failures,
        "weights": {"uids": weights.get("uids"), "weights": weights.get("weights"), "block": weights.get("block")},
        "rule": {
            "method": scoring.weights_method,
            "ema_alpha": scoring.ema_alpha,
            "softmax_temperature": scoring.softmax_temperature,
            "new_model_prior": scoring.new_model_prior,
            "copy_margin": scoring.copy_margin,
            "copy_level": scoring.copy_level,
            "text": weight_rule(scoring),
        },
    }


def _rank(row: dict[str, Any]) -> tuple[float, float, int]:
    """Leaderboard order: weight, then this round's score, then the model's id (stable across requests)."""
    score = (row["evaluation"] or {}).get("score")
    return (-(row["weight"] or 0.0), -(score or 0.0), row["model_id"])


def history(read: StateReadModel, hotkeys: list[str], limits: Limits = LIMITS) -> dict[str, list[dict[str, Any]]]:
    """Per hotkey, its recent rounds in order: the round score of its evaluation and its moving score after the
    round (a hotkey that changed its model shows the values of whichever model it had; one line per hotkey)."""
    if not hotkeys:
        return {}
    marks = ",".join("?" * len(hotkeys))
    floor = read.db.query("SELECT COALESCE(MAX(id), 0) FROM rounds")[0][0] - limits.history_rounds
    scores = read.db.query(
        f"""SELECT m.hotkey, e.round_id, MAX(e.score) FROM evaluations e JOIN models m ON m.id = e.model_id
            WHERE m.hotkey IN ({marks}) AND e.status='done' AND e.round_id > ? GROUP BY m.hotkey, e.round_id""",
        (*hotkeys, floor),
    )
    moving = read.db.query(
        f"""SELECT hotkey, round_id, MAX(value) FROM moving_scores WHERE hotkey IN ({marks}) AND round_id > ?
            GROUP BY hotkey, round_id""",
        (*hotkeys, floor),
    )
    points: dict[str, dict[int, dict[str, Any]]] = {}
    for hotkey, round_id, value in scores:
        points.setdefault(hotkey, {}).setdefault(int(round_id), {})["score"] = _finite(value)
    for hotkey, round_id, value in moving:
        points.setdefault(hotkey, {}).setdefault(int(round_id), {})["moving"] = _finite(value)
    return {
        hotkey: [{"round": r, "score": p.get("score"), "moving": p.get("moving")} for r, p in sorted(rounds.items())]
        for hotkey, rounds in sorted(points.items())
    }


def model_tasks(read: StateReadModel, evaluation_id: int, limits: Limits = LIMITS) -> list[dict[str, Any]]:
    """The recorded tasks of one evaluation (worst first, capped): score and the stored details."""
    rows = read.db.query(
        "SELECT task_id, score, details FROM task_results WHERE evaluation_id=? ORDER BY score, task_id LIMIT ?",
        (evaluation_id, limits.tasks),
    )
    out = []
    for task_id, score, details in rows:
        try:
            parsed = json.loads(details) if details else {}
        except json.JSONDecodeError:
            parsed = {}
        out.append({"id": str(task_id), "score": float(score), "details": parsed if isinstance(parsed, dict) else {}})
    return out


def model_evaluation_ids(read: StateReadModel, round_id: int, hotkey: str) -> dict[int, int]:
    """model id -> evaluation id of the hotkey's models in the round."""
    rows = read.db.query(
        """SELECT e.model_id, e.id FROM evaluations e JOIN models m ON m.id = e.model_id
           WHERE e.round_id=? AND m.hotkey=? ORDER BY e.id""",
        (round_id, hotkey),
    )
    return {int(m): int(e) for m, e in rows}
