"""`harness selftest MODEL`: run a model exactly as validators will, before committing it.

Exit codes: 0 evaluated, 1 rejected by policy, 2 could not run (bad reference, no Docker, missing image,
sandbox died): one line on stderr; 130 on Ctrl-C, after the score over the tasks finished so far.

On the CPU engine it runs a quick size by default (fewer tasks per family, the same generator, scorer and token
cap) so a miner's first answer comes in minutes; `--full` runs a validator's counts.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli.context import State, state_of
from harness.evaluation.report import markdown_summary
from harness.evaluation.results import TaskResult
from harness.miner import like_validator as like_validator_settings
from harness.miner import selftest as miner_selftest
from harness.miner.selftest import SelftestResult
from harness.views.explain import reason_groups, withheld_counts
from harness.views.output_files import ensure_writable_dir, write_texts_atomically
from harness.views.safe_text import for_terminal


def _summary(result: SelftestResult, plan: miner_selftest.Plan | None = None) -> str:
    """Readable end of run, plain text for a terminal (every model-made string through `for_terminal`): score
    with interval per family, how far a quick run's interval is from a full run's, then the tasks that lost
    points grouped by reason, each with an example answer and what was expected."""
    report = result.report
    lines = [
        f"model {for_terminal(result.model, 200)}  competition {result.competition}  seed {for_terminal(result.seed)}",
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
    if plan is not None and plan.full_tasks is not None:
        full = miner_selftest.full_interval_half_width(report, plan.full_tasks)
        now = (score["high"] - score["low"]) / 2
        if full is not None:
            lines.append(
                f"  quick run: interval ±{now:.3f} over {report['task_set']['n']} tasks; a full run "
                f"({sum(plan.full_tasks.values())} tasks, --full) would narrow it to about ±{full:.3f}"
            )
    rows = report["tasks"]
    truncated = sum(1 for r in rows if r.get("truncated"))
    withheld = withheld_counts(rows)
    if truncated:
        lines.append(f"  {truncated} answers cut at the token cap ({settings_cap(report)} tokens)")
    if withheld:
        lines.append("  withheld: " + ", ".join(f"{k} {v}" for k, v in withheld.items()))
    groups = reason_groups(rows, settings_cap(report))
    if groups:
        lines += ["", "why tasks lost points (tasks, mean score, reason; one example each):"]
        for g in groups:
            example = g["example"]
            lines.append(f"- {g['family']}: {g['tasks']} tasks, mean {g['mean']:.3f}: {for_terminal(g['reason'], 400)}")
            lines.append(f"    e.g. {for_terminal(example['id'], 40)}: answer {for_terminal(example['answer'], 200)!s}")
            if example.get("expected"):
                lines.append(f"    expected {for_terminal(example['expected'], 200)}")
    return "\n".join(lines)


def settings_cap(report: dict[str, Any]) -> int | None:
    evaluation = (report.get("settings") or {}).get("evaluation") or {}
    cap = evaluation.get("max_tokens")
    return int(cap) if isinstance(cap, int) else None


def _partial(done: list[TaskResult], plan: miner_selftest.Plan | None, total: int) -> str:
    """What Ctrl-C prints: the score over the tasks finished so far (nothing is lost of a long run)."""
    if plan is None or not done:
        return "interrupted before any task finished: no partial score"
    estimate = miner_selftest.partial_score(done, plan.families)
    per_family = ", ".join(
        f"{f} {sum(r.score for r in done if r.family == f) / n:.3f} over {n}"
        for f in plan.families
        if (n := sum(1 for r in done if r.family == f))
    )
    return (
        f"interrupted: PARTIAL SCORE {estimate.mean:.3f} (CI {estimate.low:.3f}-{estimate.high:.3f}) over "
        f"{len(done)}/{total} tasks done ({per_family}); a family with no finished task counts 0"
    )


def eta_text(elapsed: float | None, done: float, total: float | None) -> str:
    """The time left at the mean pace of the tasks done so far (rich's own estimate needs several tasks inside
    its 30 s window, which a CPU engine at minutes a task never gives it)."""
    if not elapsed or not done or not total:
        return "ETA -"
    left = round(elapsed / done * max(0.0, total - done))
    return f"ETA {left // 60}:{left % 60:02d}"


def _eta_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(eta_text(task.elapsed, task.completed, task.total))

    return EtaColumn()


def register(app: typer.Typer) -> None:
    @app.command("selftest")
    def selftest(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A local model folder or hf://ORG/NAME@REVISION.")],
        competition: Annotated[
            str | None, typer.Option(help="Competition whose task set to run (default: toolcall, or the validator's).")
        ] = None,
        seed: Annotated[str | None, typer.Option(help="Task-set seed (default: random, printed).")] = None,
        n: Annotated[int | None, typer.Option("--n", min=1, help="Tasks per family (default: the settings').")] = None,
        quick: Annotated[
            bool | None,
            typer.Option(
                "--quick/--full",
                help=f"Quick: at most {miner_selftest.QUICK_TASKS} tasks per family (same generator, scorer and "
                "token cap). Default: quick on the CPU engine, full on sglang.",
            ),
        ] = None,
        like_validator: Annotated[
            str | None,
            typer.Option(
                "--like-validator",
                metavar="URL|FILE",
                help="Run with a validator's published settings (its status server's /settings.json, or that file).",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
        out: Annotated[Path | None, typer.Option(help="Write report.json and report.md into this folder.")] = None,
    ) -> None:
        """Run MODEL as validators do: policy check, then the seeded tasks in the hardened sandbox, scored.

        Exit 0 evaluated, 1 rejected by policy, 2 could not run, 130 on Ctrl-C (after the partial score).
        """
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        err = Console(stderr=True, highlight=False)
        state = state_of(ctx)
        published = None
        if like_validator is not None:
            published = like_validator_settings.load(like_validator)
            state = State([*published.overrides, *state.overrides])  # the miner's own --set still wins
            err.print(f"settings of the validator at {for_terminal(like_validator, 200)}", markup=False)
            if published.skipped:
                err.print(f"  not known here (kept ours): {', '.join(published.skipped)}", markup=False)
            if published.unreproducible:
                err.print(
                    "  that validator also uses tasks a miner cannot have ("
                    + ", ".join(published.unreproducible)
                    + "): this score covers the public share only",
                    markup=False,
                )
        competition = competition or (published.competition if published else None) or "toolcall"
        full_settings = miner_selftest.with_task_count(state.settings, n)
        if quick is None:
            quick = n is None and full_settings.sandbox.engine == "cpu"
        settings = miner_selftest.with_quick_size(full_settings) if quick else full_settings
        plan = miner_selftest.plan_of(settings, competition, full_settings if quick else None)
        if out is not None:
            ensure_writable_dir(out)  # fail now, not after minutes of evaluation
        feed = None
        if settings.tasks.feed_url:  # validators take part of their tasks from the epoch's feed: so does selftest
            from chain.factory import open_chain

            chain = open_chain(settings.chain, settings.cache_dir)
            epoch_seed, feed = miner_selftest.current_epoch_feed(settings, chain)
            seed = seed or epoch_seed
            if feed is not None and feed.failure is not None:
                err.print(
                    f"task feed: feed/{feed.failure.failure_class} ({for_terminal(feed.failure.message)}); "
                    "local tasks only",
                    markup=False,
                )
        seed = seed or f"0x{secrets.token_hex(8)}"
        err.print(f"selftest: {plan.describe()}", markup=False)
        err.print(f"selftest seed: {for_terminal(seed)} (repeat with --seed {for_terminal(seed)})", markup=False)
        progress = Progress(
            TextColumn("tasks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            _eta_column(),
            console=err,
            transient=False,
        )
        task_bar: list[Any] = []
        done: list[TaskResult] = []
        total: list[int] = [0]

        def on_task_set(count: int) -> None:
            total[0] = count
            progress.start()
            task_bar.append(progress.add_task("tasks", total=count))

        def on_task(result: TaskResult) -> None:
            done.append(result)
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
        except KeyboardInterrupt:
            progress.stop()
            print(_partial(done, plan, total[0]), file=sys.stderr)
            raise
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
                "plan": vars(plan),
                "content_identity": result.identity,
                "policy": result.policy,
                "report": result.report,
            }
            typer.echo(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
        elif not result.allowed:
            typer.echo(result.policy_text)  # the same text `harness check` prints
        else:
            typer.echo(_summary(result, plan))
        if out is not None and result.report is not None:
            print(f"report written to {out / 'report.json'} and {out / 'report.md'}", file=sys.stderr)
        if not result.allowed:
            raise typer.Exit(1)
