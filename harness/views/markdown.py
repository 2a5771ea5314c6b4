"""`harness report ROUND --markdown`: a round's report as Markdown to paste into an issue or a Discord channel.

Values come from miners (repo names, hotkeys) and from model files (policy messages, failure reasons), so every
cell is cleaned of control characters, has Markdown/HTML metacharacters escaped and mentions (`@everyone`)
defused: pasting a report can neither break its tables nor ping a channel. Columns are padded so the raw text
also reads as a table where tables are not rendered (Discord).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.views.explain import lost_points_notes
from harness.views.safe_text import for_markdown
from harness.views.tables import (
    clean,
    failure_subject,
    family_scores,
    model_ref,
    score_text,
    violations_text,
    weight_rows,
    when,
)

_SAFE_CODE = re.compile(r"[\w.\-/@:…]+")


def escape(value: Any, limit: int = 300) -> str:
    """A cell's text: `harness.views.safe_text.for_markdown` (controls escaped, metacharacters and mentions
    defused)."""
    return for_markdown(value, limit)


def code(value: Any) -> str:
    """Identifiers (repo@rev, hotkeys) as code spans when they are plain enough to be one, else escaped text."""
    text = clean(value, 120)
    return f"`{text}`" if _SAFE_CODE.fullmatch(text) else escape(text)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h), 3, *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _dash(value: Any) -> str:
    return "-" if value is None else escape(value)


def verdict_cell(model: Mapping[str, Any]) -> str:
    """The verdict column: `rejected` in bold, a copy or a covered model named as such (not `allowed`)."""
    label = model.get("verdict") or ("allowed" if model["allowed"] else "rejected")
    return f"**{escape(label)}**" if label in ("rejected", "copy") else escape(label)


def moving_text(before: float | None, after: float | None) -> str:
    return "-" if after is None else f"{score_text(before) if before is not None else 'new'} → {after:.4f}"


def standing_text(e: Mapping[str, Any]) -> str:
    """This round's standing and the moving standing it led to."""
    if e.get("moving_standing") is None:
        return "-"
    return f"{score_text(e.get('round_standing'))} → {e['moving_standing']:.4f}"


def _why_lines(evaluations: Sequence[Mapping[str, Any]], max_tokens: int | None) -> list[str]:
    """Per evaluation, the tasks that lost points grouped by reason, each with one example answer."""
    lines: list[str] = []
    for e in evaluations:
        groups = e.get("reasons") or []
        if not groups:
            continue
        extra = lost_points_notes(e, max_tokens)
        title = f"Why {code(model_ref(e.get('repo'), e.get('revision')))} lost points"
        lines += ["", f"{title}" + (f" ({escape('; '.join(extra))})" if extra else "") + ":", ""]
        rows = [
            [
                escape(g["family"]),
                str(g["tasks"]),
                f"{g['mean']:.3f}",
                escape(g["reason"], 400),
                escape(g["example"]["id"]),
                escape(g["example"]["answer"], 160),
                escape(g["example"].get("expected") or "", 160),
            ]
            for g in groups
        ]
        lines += table(["family", "tasks", "mean", "why", "example", "answer", "expected"], rows)
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    rnd = report["round"]
    lines = [f"### Round {rnd['id']} · {escape(rnd['status'])}", ""]
    facts = []
    if rnd.get("block") is not None:
        facts.append(f"block {rnd['block']}")
    facts.append(f"started {when(rnd.get('started_at'))}")
    if rnd.get("finished_at") is not None:
        facts.append(f"finished {when(rnd['finished_at'])}")
    if rnd.get("note"):
        facts.append(escape(rnd["note"], 200))
    lines += [" · ".join(facts), ""]

    models = report.get("models") or []
    allowed = sum(1 for m in models if m["allowed"])
    hotkeys = {m["uid"]: m["hotkey"] for m in models if m.get("uid") is not None}
    lines.append(f"**Models** ({len(models)}: {allowed} allowed, {len(models) - allowed} rejected)")
    if models:
        rows = [
            [
                _dash(m.get("uid")),
                code(m["hotkey"]),
                code(model_ref(m["repo"], m["revision"])),
                str(m["commit_block"]),
                verdict_cell(m),
                escape(violations_text(m.get("violations")) or m.get("verdict_note") or "", 600),
            ]
            for m in models
        ]
        lines += ["", *table(["uid", "hotkey", "model", "commit", "verdict", "violations / note"], rows)]
    lines.append("")

    rule = report.get("weight_rule")
    if rule:
        lines += [f"**Weight rule** (`{escape(rule['method'])}`): {escape(rule['rule'], 600)}", ""]

    evaluations = report.get("evaluations") or []
    families = sorted({f for e in evaluations for f in family_scores(e.get("details"))})
    lines.append(f"**Evaluations** ({len(evaluations)})")
    if evaluations:
        rows = []
        for e in evaluations:
            per_family = family_scores(e.get("details"))
            rows.append(
                [
                    _dash(e.get("uid")),
                    code(model_ref(e.get("repo"), e.get("revision"))),
                    escape(e["status"]),
                    score_text(e["score"]),
                    *(score_text(per_family.get(f)) for f in families),
                    moving_text(e.get("moving_score_before"), e.get("moving_score")),
                    standing_text(e),
                    score_text(e.get("weight")),
                    str(e["tasks_done"]),
                    escape(e.get("why") or "", 600),
                ]
            )
        header = ["uid", "model", "status", "score", *(escape(f) for f in families)]
        header += ["moving score", "standing", "weight", "tasks", "why"]
        lines += ["", *table(header, rows)]
        lines += _why_lines(evaluations, report.get("max_tokens"))
        if report.get("expected_calls"):
            lines += ["", escape(report["expected_calls"], 600)]
    lines.append("")

    failures = report.get("failures") or []
    lines.append(f"**Failures** ({len(failures)})")
    if failures:
        rows = [
            [escape(failure_subject(f)), escape(f.get("stage")), escape(f.get("class")), escape(f.get("reason"))]
            for f in failures
        ]
        lines += ["", *table(["subject", "stage", "class", "reason"], rows)]
    lines.append("")

    weights = report.get("weights")
    if weights:
        lines.append(f"**Weights** (block {_dash(weights.get('block'))}, set {when(weights.get('set_at'))})")
        rows = [
            [str(uid), code(hotkeys[uid]) if uid in hotkeys else "-", f"{weight:.4f}"]
            for uid, weight in weight_rows(weights)
        ]
        lines += ["", *table(["uid", "hotkey", "weight"], rows)]
    else:
        lines.append("**Weights**: not set in this round")
    return "\n".join(lines) + "\n"
