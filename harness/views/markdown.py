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

from harness.views.tables import (
    clean,
    failure_subject,
    family_scores,
    model_ref,
    score_text,
    short_hotkey,
    violations_text,
    weight_rows,
    when,
)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~|<>\[\]])")
_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
_SAFE_CODE = re.compile(r"[\w.\-/@:…]+")


def escape(value: Any, limit: int = 300) -> str:
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", clean(value, limit))
    return _MENTION.sub("@\u200b\\1", text)  # a zero-width space defuses @everyone / @here


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
                code(short_hotkey(m["hotkey"])),
                code(model_ref(m["repo"], m["revision"])),
                str(m["commit_block"]),
                "allowed" if m["allowed"] else "**rejected**",
                escape(violations_text(m.get("violations")), 600),
            ]
            for m in models
        ]
        lines += ["", *table(["uid", "hotkey", "model", "commit", "verdict", "violations"], rows)]
    lines.append("")

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
                    str(e["tasks_done"]),
                    *(score_text(per_family.get(f)) for f in families),
                ]
            )
        lines += ["", *table(["uid", "model", "status", "score", "tasks", *(escape(f) for f in families)], rows)]
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
            [str(uid), code(short_hotkey(hotkeys[uid])) if uid in hotkeys else "-", f"{weight:.4f}"]
            for uid, weight in weight_rows(weights)
        ]
        lines += ["", *table(["uid", "hotkey", "weight"], rows)]
    else:
        lines.append("**Weights**: not set in this round")
    return "\n".join(lines) + "\n"
