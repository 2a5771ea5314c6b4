"""`harness demo seed`: demo miners commit the bundled models (through the local Hub mirror) on the local chain;
`harness demo build`: build those models ahead of time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.context import state_of
from harness.demo.bundled_models import build_all
from harness.demo.seed import seed

demo_app = typer.Typer(help="Demo miners for the local chain and the local Hub mirror.")


@demo_app.command("seed")
def seed_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """Publish good, worse, text, copy and hostile models into the mirror and commit them (plus junk); idempotent."""
    settings = state_of(ctx).settings
    rows = seed(settings)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    root = settings.paths.mirror
    typer.echo(f"mirror: {root}  (serve it: harness hub serve; validators: hub.endpoint=http://HOST:PORT)")
    typer.echo(f"{'role':<8} {'hotkey':<16} {'uid':>4} {'block':>8}  {'status':<9}  commitment")
    for r in rows:
        status = "committed" if r.committed else "unchanged"
        typer.echo(f"{r.role:<8} {r.hotkey:<16} {r.uid:>4} {r.block:>8}  {status:<9}  {r.raw}")


@demo_app.command("build")
def build_cmd(ctx: typer.Context) -> None:
    """Build the bundled models into the cache where missing (the VLM trains for minutes); prints their folders."""
    for role, folder in build_all(Path(state_of(ctx).settings.cache_dir)).items():
        typer.echo(f"{role:<17} {folder}")


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
