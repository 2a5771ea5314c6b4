"""`harness tasks` exports a seeded task set; `harness score` scores recorded outputs offline.

The outputs file's format is `harness.evaluation.outputs`; tasks with no line score 0 (`missing-output`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from chain.factory import open_chain
from harness.cli.context import state_of
from harness.errors import HarnessError
from harness.evaluation.outputs import read_outputs
from harness.evaluation.report import build_report, markdown_summary
from harness.evaluation.task_scoring import score_each
from harness.feed.wiring import read_epoch_feed
from harness.tasks.build import build_family
from harness.tasks.families import family_names, task_count
from harness.tasks.taskset import load_task_set, write_task_set


def register(app: typer.Typer) -> None:
    @app.command("tasks")
    def tasks(
        ctx: typer.Context,
        seed: Annotated[str, typer.Option(help="Round seed (in production the round's block hash).")],
        out: Annotated[Path, typer.Option(help="Where to write the task set (canonical JSON).")],
        family: Annotated[str, typer.Option(help=f"Task family: {' or '.join(family_names())}.")] = "toolcall",
        n: Annotated[int | None, typer.Option(help="Number of tasks; default: the setting tasks.<family>_n.")] = None,
        epoch: Annotated[
            int | None,
            typer.Option(
                help="Seed block whose task feed batch to include, read as a round reads it (tasks.feed_url)."
            ),
        ] = None,
    ) -> None:
        """Export a seeded task set; the same seed and settings give the same bytes everywhere.

        With `--epoch`, the epoch's feed batch is read as a validator's round reads it (locked, tampered or missing:
        the set falls back to local tasks and the set records why), so an auditor can rebuild a round's set."""
        if family not in family_names():
            raise HarnessError(f"unknown family {family!r}; choose one of {', '.join(family_names())}")
        config = state_of(ctx).settings.tasks
        count = n if n is not None else task_count(family, config)
        if count < 1:
            raise HarnessError("--n must be at least 1")
        feed = None
        if epoch is not None:
            settings = state_of(ctx).settings
            if not settings.tasks.feed_url:
                raise HarnessError("--epoch needs a task feed (tasks.feed_url)")
            feed = read_epoch_feed(settings, open_chain(settings.chain, settings.cache_dir), epoch)
            if feed is not None and feed.failure is not None:
                typer.echo(f"task feed: feed/{feed.failure.failure_class} ({feed.failure.message}); local tasks only")
        task_set = build_family(seed, family, count, config, feed=feed)
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
        settings = state_of(ctx).settings
        task_set = load_task_set(tasks_file)
        if competition is not None:
            if competition not in settings.competitions:
                raise HarnessError(f"unknown competition {competition!r}; known: {', '.join(settings.competitions)}")
            weights = settings.competitions[competition].families
        else:
            weights = {t["family"]: 1.0 for t in task_set["tasks"]}
        known = {t["id"] for t in task_set["tasks"]}
        outcomes = [o for o in read_outputs(outputs) if o.task_id in known]
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
