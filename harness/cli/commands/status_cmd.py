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
from harness.views.status import EMPTY_STATUS, resolve_round, status_payload
from harness.views.tables import render_report, render_status


def _state_db(ctx: typer.Context) -> Path:
    settings = state_of(ctx).settings
    return settings.paths.state_db


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
        print(f"no state database at {path} yet: the validator creates it on its first round", file=sys.stderr)
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
    """One round: models with verdicts and violations, evaluations, failures and weights."""
    if json_ and markdown:
        raise HarnessError("choose one of --json and --markdown")
    path = _state_db(ctx)
    if not path.exists():
        raise HarnessError(f"no state database at {path}: no rounds yet")
    with Store(path, readonly=True) as store:
        data = store.read.report(resolve_round(store, round_))
    if json_:
        _print_json(data)
    elif markdown:
        typer.echo(report_markdown(data), nl=False)
    else:
        render_report(_console(), data)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("report")(report)
