"""`harness selftest MODEL`: run a model exactly as validators will, before committing it.

Exit codes: 0 evaluated, 1 rejected by policy, 2 could not run (bad reference, no Docker, missing image,
sandbox died): one line on stderr.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli.context import state_of
from harness.evaluation.report import markdown_summary
from harness.evaluation.results import TaskResult
from harness.miner import selftest as miner_selftest
from harness.miner.selftest import SelftestResult
from harness.views.output_files import ensure_writable_dir, write_texts_atomically


def _summary(result: SelftestResult) -> str:
    """Readable end of run: score with interval per family, then the worst tasks (the Markdown summary)."""
    report = result.report
    lines = [
        f"model {result.model}  competition {result.competition}  seed {result.seed}",
        f"content identity {result.identity}",
        f"task set sha256 {report['task_set']['sha256']}  ({report['task_set']['n']} tasks, {report['wall_s']:.1f} s)",
        "",
    ]
    score = report["score"]
    lines.append(f"SCORE {score['mean']:.3f}  (CI {score['low']:.3f}-{score['high']:.3f})")
    for family, f in report["families"].items():
        weight = report["family_weights"].get(family, 0)
        lines.append(
            f"  {family:<10} {f['mean']:.3f}  (CI {f['low']:.3f}-{f['high']:.3f}, n={f['n']}, "
            f"weight {weight}, failures {f['errors']})"
        )
    lines += ["", "## " + markdown_summary(report).split("\n## ", 1)[-1] if report["families"] else ""]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("selftest")
    def selftest(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A local model folder or hf://ORG/NAME@REVISION.")],
        competition: Annotated[str, typer.Option(help="Competition whose task set to run.")] = "toolcall",
        seed: Annotated[str | None, typer.Option(help="Task-set seed (default: random, printed).")] = None,
        n: Annotated[int | None, typer.Option("--n", min=1, help="Tasks per family (default: the settings').")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
        out: Annotated[Path | None, typer.Option(help="Write report.json and report.md into this folder.")] = None,
    ) -> None:
        """Run MODEL as validators do: policy check, then the seeded tasks in the hardened sandbox, scored.

        Exit 0 evaluated, 1 rejected by policy, 2 could not run.
        """
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        settings = miner_selftest.with_task_count(state_of(ctx).settings, n)
        if out is not None:
            ensure_writable_dir(out)  # fail now, not after minutes of evaluation
        err = Console(stderr=True)
        feed = None
        if settings.tasks.feed_url:  # validators take part of their tasks from the epoch's feed: so does selftest
            from chain.factory import open_chain

            chain = open_chain(settings.chain, settings.cache_dir)
            epoch_seed, feed = miner_selftest.current_epoch_feed(settings, chain)
            seed = seed or epoch_seed
            if feed is not None and feed.failure is not None:
                err.print(f"task feed: feed/{feed.failure.failure_class} ({feed.failure.message}); local tasks only")
        seed = seed or f"0x{secrets.token_hex(8)}"
        err.print(f"selftest seed: {seed} (repeat with --seed {seed})")
        progress = Progress(
            TextColumn("tasks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=False
        )
        task_bar: list[Any] = []

        def on_task_set(total: int) -> None:
            progress.start()
            task_bar.append(progress.add_task("tasks", total=total))

        def on_task(_result: TaskResult) -> None:
            if task_bar:
                progress.advance(task_bar[0])

        try:
            result = miner_selftest.run_selftest(  # looked up at call time: tests stand in for it
                model,
                settings,
                competition=competition,
                seed=seed,
                on_task_set=on_task_set,
                on_task=on_task,
                feed=feed,
            )
        finally:
            progress.stop()
        if out is not None and result.report is not None:
            write_texts_atomically(
                {
                    out / "report.json": json.dumps(result.report, indent=1, ensure_ascii=False, default=str) + "\n",
                    out / "report.md": markdown_summary(result.report, settings.evaluation.worst_tasks_shown),
                }
            )
        if as_json:
            payload = {
                "model": result.model,
                "allowed": result.allowed,
                "seed": result.seed,
                "competition": result.competition,
                "content_identity": result.identity,
                "policy": result.policy,
                "report": result.report,
            }
            typer.echo(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
        elif not result.allowed:
            typer.echo(result.policy_text)  # the same text `harness check` prints
        else:
            typer.echo(_summary(result))
        if out is not None and result.report is not None:
            print(f"report written to {out / 'report.json'} and {out / 'report.md'}", file=sys.stderr)
        if not result.allowed:
            raise typer.Exit(1)
