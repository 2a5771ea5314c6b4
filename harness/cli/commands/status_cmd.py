"""`harness status` and `harness report ROUND`: what the validator is doing and what a round decided.

Both read the state database (`state_db`) read-only, so they are safe to run beside a live validator: they
never create, migrate or lock it, and each answer is one consistent snapshot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harness.cli.context import state_of
from harness.errors import HarnessError
from harness.state.store import Store
from harness.views.markdown import report_markdown
from harness.views.round_report import explained_report
from harness.views.status import EMPTY_STATUS, resolve_round, status_payload
from harness.views.tables import render_report, render_status


def _state_db(ctx: typer.Context) -> Path:
    settings = state_of(ctx).settings
    return settings.paths.state_db


def _demo_data_dirs() -> list[Path]:
    """Where `make harness-up` keeps its data (`HARNESS_DATA`, default `<repo>/.harness-data`): the repository
    this code runs from and the working directory, each once, in that order."""
    repo = Path(__file__).resolve().parents[3] / ".harness-data"
    cwd = Path.cwd() / ".harness-data"
    return [repo] if repo.resolve() == cwd.resolve() else [repo, cwd]


def missing_store_hint(path: Path) -> str:
    """Why there is no database at `path`, and where the demo's one is: the demo stack writes under
    `.harness-data`, not under the default cache, so `harness status` after `make harness-up` found nothing."""
    found = [d for d in _demo_data_dirs() if (d / "state.sqlite").is_file()]
    if found:
        where = found[0]
        return (
            f"no state database at {path}; the demo stack's is under {where}: "
            f"HARNESS_CACHE_DIR={where} harness status (or --set cache_dir={where})"
        )
    return (
        f"no state database at {path} yet: the validator creates it on its first round "
        "(the demo stack of `make harness-up` keeps its data in <repo>/.harness-data: "
        "set HARNESS_CACHE_DIR to that folder)"
    )


def _console() -> Console:
    # Wide when piped so that tables are not folded into unreadable columns in logs and CI output.
    return Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 160)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def status(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print Store.status() plus recent failures as JSON.")] = False,
) -> None:
    """The round in progress, the leaderboard, the last weights and recent failures."""
    path = _state_db(ctx)
    if not path.exists():
        print(missing_store_hint(path), file=sys.stderr)
        if json_:
            _print_json(EMPTY_STATUS)
        return
    with Store(path, readonly=True) as store:
        payload = status_payload(store)
    if json_:
        _print_json(payload)
    else:
        render_status(_console(), payload)


def report(
    ctx: typer.Context,
    round_: Annotated[str, typer.Argument(metavar="ROUND", help="Round number, `last` or `current`.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown for an issue or Discord.")] = False,
) -> None:
    """One round: models with verdicts, evaluations with why each scored what it did (moving score, standing,
    weight rule, the tasks that lost points and why), failures and weights. `--json` has every task's result."""
    if json_ and markdown:
        raise HarnessError("choose one of --json and --markdown")
    path = _state_db(ctx)
    if not path.exists():
        raise HarnessError(missing_store_hint(path))
    settings = state_of(ctx).settings
    with Store(path, readonly=True) as store:
        data = explained_report(store, resolve_round(store, round_), settings.scoring, settings.evaluation.max_tokens)
    if json_:
        _print_json(data)
    elif markdown:
        typer.echo(report_markdown(data), nl=False)
    else:
        render_report(_console(), data)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("report")(report)
