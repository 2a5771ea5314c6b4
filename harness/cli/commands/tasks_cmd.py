"""`harness tasks` exports a seeded task set; `harness score` scores recorded outputs offline.

Outputs file (JSONL, one object a line, one line per task answered):

    {"task_id": "tc-0003", "response": {...raw /v1/chat/completions response...}}
    {"task_id": "tc-0004", "message": {"content": "[f(a=1)]", "tool_calls": null}}
    {"task_id": "cap-0001", "content": "two red circles"}
    {"task_id": "tc-0005", "error": "request-timeout"}

`latency_s` may be added to any line. Tasks with no line score 0 (`missing-output`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli.context import state_of
from harness.errors import HarnessError


def read_outputs(path: Path) -> list[dict[str, Any]]:
    """Outcomes from an outputs file; a malformed line is a one-line error naming it."""
    from harness.evaluation.run import failure_outcome, outcome_from_response

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise HarnessError(f"outputs file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read outputs file {path}: {exc}") from None
    outcomes = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str):
            raise HarnessError(f"{path}:{number}: needs a 'task_id' string")
        latency = row.get("latency_s")
        if row.get("error"):
            outcomes.append(
                failure_outcome(row["task_id"], str(row["error"]), str(row.get("error_message", "")), latency)
            )
        elif "response" in row:
            outcomes.append(outcome_from_response(row["task_id"], row["response"], latency))
        elif isinstance(row.get("message"), dict) or "content" in row:
            message = row.get("message") or {"content": row.get("content"), "tool_calls": row.get("tool_calls")}
            outcomes.append(outcome_from_response(row["task_id"], {"choices": [{"message": message}]}, latency))
        else:
            raise HarnessError(f"{path}:{number}: needs 'response', 'message', 'content' or 'error'")
    return outcomes


def register(app: typer.Typer) -> None:
    @app.command("tasks")
    def tasks(
        ctx: typer.Context,
        seed: Annotated[str, typer.Option(help="Round seed (in production the round's block hash).")],
        out: Annotated[Path, typer.Option(help="Where to write the task set (canonical JSON).")],
        family: Annotated[str, typer.Option(help="Task family: toolcall or caption.")] = "toolcall",
        n: Annotated[int | None, typer.Option(help="Number of tasks; default from tasks.toolcall_n/caption_n.")] = None,
    ) -> None:
        """Export a seeded task set; the same seed and settings give the same bytes everywhere."""
        from harness.tasks import build_family, write_task_set
        from harness.tasks.families import family_names, get_family

        if family not in family_names():
            raise HarnessError(f"unknown family {family!r}; choose one of {', '.join(family_names())}")
        config = state_of(ctx).settings.tasks
        count = n if n is not None else get_family(family).default_n(config)
        if count < 1:
            raise HarnessError("--n must be at least 1")
        task_set = build_family(seed, family, count, config)
        try:
            digest = write_task_set(task_set, out)
        except OSError as exc:
            raise HarnessError(f"cannot write {out}: {exc.strerror}") from None
        typer.echo(f"{out}: {len(task_set['tasks'])} {family} tasks, sha256 {digest}")

    @app.command("score")
    def score(
        ctx: typer.Context,
        tasks_file: Annotated[Path, typer.Option("--tasks", help="Task set written by `harness tasks`.")],
        outputs: Annotated[Path, typer.Option(help="Recorded outputs, JSONL (see `harness score --help`).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
        competition: Annotated[str | None, typer.Option(help="Weigh families as this competition does.")] = None,
        model: Annotated[str, typer.Option(help="Model name written into the report.")] = "offline",
    ) -> None:
        """Score recorded outputs against a task set, offline (no engine).

        Outputs file: JSONL, one object a line with `task_id` and one of `response` (raw chat-completions
        JSON), `message` ({content, tool_calls}), `content` (text), or `error` (a failure class).
        """
        from harness.evaluation.pipeline import build_report, markdown_summary, score_each
        from harness.tasks import load_task_set

        settings = state_of(ctx).settings
        task_set = load_task_set(tasks_file)
        if competition is not None:
            if competition not in settings.competitions:
                raise HarnessError(f"unknown competition {competition!r}; known: {', '.join(settings.competitions)}")
            weights = settings.competitions[competition].families
        else:
            weights = {t["family"]: 1.0 for t in task_set["tasks"]}
        known = {t["id"] for t in task_set["tasks"]}
        outcomes = [o for o in read_outputs(outputs) if o["task_id"] in known]
        results = score_each(task_set["tasks"], outcomes, settings.scoring)
        report = build_report(
            task_set=task_set,
            model=model,
            results=results,
            family_weights=weights,
            evaluation=settings.evaluation,
            scoring=settings.scoring,
            competition=competition,
        )
        if as_json:
            typer.echo(json.dumps(report, indent=1, ensure_ascii=False, default=str))
        else:
            typer.echo(markdown_summary(report, settings.evaluation.worst_tasks_shown), nl=False)
