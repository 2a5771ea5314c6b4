"""Human views of the validator's state for `harness status` and `harness report`, rendered with rich.

Every value shown may come from outside the validator (a commitment, a policy message quoting a model card,
a failure reason quoting a sandbox log), so each goes through `clean()` and into a rich `Text`, never into
markup: no terminal escape sequence or rich markup from a model reaches the operator's terminal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.state.reveals import status_lines
from harness.views.explain import lost_points_notes
from harness.views.safe_text import for_terminal


def clean(value: Any, limit: int = 300) -> str:
    """One printable line: unsafe characters shown as escapes, whitespace runs collapsed, long text cut
    (`harness.views.safe_text.for_terminal`, the one function every view uses)."""
    return for_terminal(value, limit)


def short_hotkey(hotkey: str | None) -> str:
    hotkey = clean(hotkey)
    return hotkey if len(hotkey) <= 10 else hotkey[:8] + "…"


def model_ref(repo: str | None, revision: str | None) -> str:
    return f"{clean(repo)}@{clean(revision)[:8]}" if repo else "-"


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def score_text(score: float | None) -> str:
    return "-" if score is None else f"{score:.4f}"


def family_scores(details: Mapping[str, Any] | None) -> dict[str, float]:
    """Per-family scores from an evaluation's details: `families` maps a family to a number or an estimate."""
    families = (details or {}).get("families")
    if not isinstance(families, Mapping):
        return {}
    scores: dict[str, float] = {}
    for name, value in families.items():
        if isinstance(value, Mapping):
            value = value.get("mean", value.get("score"))
        if isinstance(value, int | float) and not isinstance(value, bool):
            scores[clean(name, 40)] = float(value)
    return scores


def violations_text(violations: Iterable[Mapping[str, Any]] | None) -> str:
    parts = []
    for v in violations or []:
        rule, message = v.get("rule"), v.get("message")
        parts.append(f"{rule}: {message}" if rule and message else str(rule or message or ""))
    return clean("; ".join(parts), 600)


def weight_rows(weights: Mapping[str, Any] | None) -> list[tuple[int, float]]:
    """(uid, weight) pairs, heaviest first."""
    if not weights:
        return []
    pairs = zip(weights.get("uids") or [], weights.get("weights") or [], strict=False)
    return sorted(((int(u), float(w)) for u, w in pairs), key=lambda p: (-p[1], p[0]))


def failure_subject(failure: Mapping[str, Any]) -> str:
    model = failure.get("model")
    if model:
        return f"{model_ref(model.get('repo'), model.get('revision'))} ({short_hotkey(model.get('hotkey'))})"
    return clean(failure.get("subject"), 80)


class _Section:
    """A heading line over a table (a rich table title would wrap to the table's width)."""

    def __init__(self, title: str, *columns: str) -> None:
        self.title = title
        self.table = Table(show_lines=False)
        for column in columns:
            self.table.add_column(column, overflow="fold")

    def add_row(self, *cells: Any) -> None:
        self.table.add_row(*(Text(clean(c, 600)) for c in cells))

    def __rich_console__(self, console: Console, options: Any) -> Iterable[Any]:
        yield Text(self.title, style="bold")
        yield self.table


def _failures_table(title: str, failures: list[dict[str, Any]]) -> _Section:
    table = _Section(title, "subject", "stage", "class", "reason")
    for f in failures:
        table.add_row(failure_subject(f), f.get("stage"), f.get("class"), f.get("reason"))
    return table


def weights_mode(weights: Mapping[str, Any]) -> str:
    """How the weights were decided: by scores, or a fallback (nobody earned any) named so it is never silent."""
    receipt = weights.get("receipt") if isinstance(weights.get("receipt"), Mapping) else {}
    mode = receipt.get("mode") if receipt else None
    return "" if mode in (None, "scores") else f", FALLBACK {mode}: no model earned a score"


def _weights_table(title: str, weights: Mapping[str, Any], hotkeys: Mapping[int, str]) -> _Section:
    table = _Section(title, "uid", "hotkey", "weight")
    for uid, weight in weight_rows(weights):
        table.add_row(uid, short_hotkey(hotkeys.get(uid)) if uid in hotkeys else "-", f"{weight:.4f}")
    return table


def _progress_line(progress: Mapping[str, Any]) -> str:
    evaluations = progress.get("evaluations") or {}
    verdicts = progress.get("verdicts") or {}
    return (
        f"evaluations {evaluations.get('done', 0)} done, {evaluations.get('running', 0)} running, "
        f"{evaluations.get('failed', 0)} failed; models {verdicts.get('allowed', 0)} allowed, "
        f"{verdicts.get('rejected', 0)} rejected; {progress.get('tasks_done', 0)} tasks done; "
        f"{progress.get('failures', 0)} failures"
    )


def _round_line(label: str, rnd: Mapping[str, Any]) -> str:
    block = f" at block {rnd['block']}" if rnd.get("block") is not None else ""
    line = f"{label} {rnd['id']}{block}: {rnd['status']}, started {when(rnd.get('started_at'))}"
    if rnd.get("finished_at") is not None:
        line += f", finished {when(rnd['finished_at'])}"
    if rnd.get("note"):
        line += f" ({clean(rnd['note'], 200)})"
    return line


def render_status(console: Console, status: Mapping[str, Any]) -> None:
    """`harness status`: the round in progress, the leaderboard, the last weights and recent failures."""
    current, last = status.get("round_in_progress"), status.get("last_round")
    if current is None and last is None:
        console.print("no rounds yet", markup=False, highlight=False)
        return
    if current is not None:
        console.print(Text(_round_line("round in progress:", current)))
        console.print(Text("  " + _progress_line(current.get("progress") or {})))
    else:
        console.print(Text("no round in progress"))
    if last is not None:
        console.print(Text(_round_line("last finished round:", last)))

    board = status.get("leaderboard") or []
    hotkeys = {row["uid"]: row["hotkey"] for row in board if row.get("uid") is not None}
    if board:
        table = _Section(f"leaderboard (round {board[0]['round']})", "#", "hotkey", "uid", "model", "score", "commit")
        for rank, row in enumerate(board, 1):
            table.add_row(
                rank,
                short_hotkey(row["hotkey"]),
                "-" if row["uid"] is None else row["uid"],
                model_ref(row["repo"], row["revision"]),
                score_text(row["score"]),
                row["commit_block"],
            )
        console.print(table)
    else:
        console.print(Text("leaderboard: no finished evaluations yet"))

    weights = status.get("last_weights")
    if weights:
        title = (
            f"last weights (round {weights['round']}, block {weights.get('block')}, set {when(weights['set_at'])}"
            f"{weights_mode(weights)})"
        )
        console.print(_weights_table(title, weights, hotkeys))
    else:
        console.print(Text("last weights: none set yet"))
    for line in status_lines(weights, status.get("validator_activity")):  # commit-reveal state, activity cutoff
        console.print(Text(line))

    failures = status.get("recent_failures") or []
    if failures:
        console.print(_failures_table(f"recent failures (round {failures[0]['round']})", failures))


def _arrow(before: float | None, after: float | None) -> str:
    if after is None:
        return "-"
    return f"{'new' if before is None else f'{before:.4f}'} -> {after:.4f}"


def _why_sections(console: Console, evaluations: list[dict[str, Any]], max_tokens: int | None) -> None:
    """Per evaluation, the tasks that lost points grouped by reason, with one example answer each."""
    for e in evaluations:
        groups = e.get("reasons") or []
        if not groups:
            continue
        extra = lost_points_notes(e, max_tokens)
        title = f"why {model_ref(e.get('repo'), e.get('revision'))} lost points"
        table = _Section(
            title + (f" ({'; '.join(extra)})" if extra else ""), "family", "tasks", "mean", "why", "example"
        )
        for g in groups:
            example = g["example"]
            shown = f"{example['id']}: {clean(example['answer'], 160) or '(no answer)'}"
            if example.get("expected"):
                shown += f" | expected: {clean(example['expected'], 160)}"
            table.add_row(g["family"], g["tasks"], f"{g['mean']:.3f}", g["reason"], shown)
        console.print(table)


def render_report(console: Console, report: Mapping[str, Any]) -> None:
    """`harness report ROUND`: models with verdicts, evaluations with why each scored what it did, failures and
    weights of one round."""
    console.print(Text(_round_line("round", report["round"])))
    models = report.get("models") or []
    hotkeys = {m["uid"]: m["hotkey"] for m in models if m.get("uid") is not None}
    table = _Section("models", "uid", "hotkey", "model", "commit", "verdict", "violations / note")
    for m in models:
        verdict = m.get("verdict") or ("allowed" if m["allowed"] else "rejected")
        table.add_row(
            "-" if m.get("uid") is None else m["uid"],
            short_hotkey(m["hotkey"]),
            model_ref(m["repo"], m["revision"]),
            m["commit_block"],
            verdict,
            violations_text(m.get("violations")) or m.get("verdict_note") or "",
        )
    console.print(table if models else Text("models: none checked"))

    rule = report.get("weight_rule")
    if rule:
        console.print(Text(f"weight rule ({rule['method']}): {rule['rule']}"))
    evaluations = report.get("evaluations") or []
    families = sorted({f for e in evaluations for f in family_scores(e.get("details"))})
    columns = ["uid", "model", "status", "score", *families, "moving score", "standing", "weight", "tasks"]
    table = _Section("evaluations", *columns)
    for e in evaluations:
        per_family = family_scores(e.get("details"))
        standing = "-"
        if e.get("moving_standing") is not None:
            standing = f"{score_text(e.get('round_standing'))} -> {e['moving_standing']:.4f}"
        table.add_row(
            "-" if e.get("uid") is None else e["uid"],
            model_ref(e.get("repo"), e.get("revision")),
            e["status"],
            score_text(e["score"]),
            *(score_text(per_family.get(f)) for f in families),
            _arrow(e.get("moving_score_before"), e.get("moving_score")),
            standing,
            score_text(e.get("weight")),
            e["tasks_done"],
        )
    console.print(table if evaluations else Text("evaluations: none"))
    for e in evaluations:
        if e.get("why"):
            console.print(Text(f"  {model_ref(e.get('repo'), e.get('revision'))}: {clean(e['why'], 1200)}"))
    _why_sections(console, evaluations, report.get("max_tokens"))
    if report.get("expected_calls"):
        console.print(Text(clean(report["expected_calls"], 600)))

    failures = report.get("failures") or []
    console.print(_failures_table("failures", failures) if failures else Text("failures: none"))

    weights = report.get("weights")
    if weights:
        title = f"weights (block {weights.get('block')}, set {when(weights['set_at'])}{weights_mode(weights)})"
        console.print(_weights_table(title, weights, hotkeys))
        for line in status_lines(weights):  # commit-reveal state
            console.print(Text(line))
    else:
        console.print(Text("weights: not set in this round"))
