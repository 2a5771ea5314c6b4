"""`harness demo seed`: demo miners commit the bundled models (through the local Hub mirror) on the local chain;
`harness demo improve`: a later miner commits the demo VLM trained further (after a first round);
`harness demo build`: build those models ahead of time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from chain.factory import open_local_chain
from harness.cli.context import state_of
from harness.demo.bundled_models import build_all
from harness.demo.curator import DemoFeed, publish_demo_feed
from harness.demo.seed import DemoCommitment, improve, open_next_epoch, seed

demo_app = typer.Typer(help="Demo miners for the local chain and the local Hub mirror.")


@demo_app.command("seed")
def seed_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
    only_ready: Annotated[
        bool,
        typer.Option(
            "--only-ready",
            help="Commit only miners whose model needs no training now (the VLM miners wait for a full seed).",
        ),
    ] = False,
) -> None:
    """Publish good, worse, text, copy and hostile models into the mirror and commit them (plus junk); idempotent.

    With `tasks.feed_url` a local folder, the demo curator also locks and signs a feed batch for each coming epoch
    (docs/feed.md); batches already there are kept."""
    settings = state_of(ctx).settings
    rows = seed(settings, only_ready=only_ready)
    chain = open_local_chain(settings.chain, Path(settings.cache_dir))
    open_next_epoch(chain)
    feed = publish_demo_feed(settings, chain)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    _print_rows(settings.paths.mirror, rows)
    _print_feed(feed)


@demo_app.command("improve")
def improve_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Commit the demo VLM trained further under demo.better_hotkey, after every demo miner; idempotent.

    Run it after a first round: the later, better model takes the lead only by beating the VLM by the margin."""
    settings = state_of(ctx).settings
    row = improve(settings)
    if as_json:
        typer.echo(json.dumps(row.to_dict(), indent=2))
        return
    _print_rows(settings.paths.mirror, [row])


def _print_rows(root: Path, rows: list[DemoCommitment]) -> None:
    typer.echo(f"mirror: {root}  (serve it: harness hub serve; validators: hub.endpoint=http://HOST:PORT)")
    typer.echo(f"{'role':<8} {'hotkey':<16} {'uid':>4} {'block':>8}  {'status':<9}  commitment")
    for r in rows:
        status = "committed" if r.committed else "unchanged"
        typer.echo(f"{r.role:<8} {r.hotkey:<16} {r.uid:>4} {r.block:>8}  {status:<9}  {r.raw}")


def _print_feed(feed: DemoFeed | None) -> None:
    if feed is None:
        return
    first, last = feed.epochs[0], feed.epochs[-1]
    typer.echo(
        f"feed: {feed.folder}  batches for seed blocks {first}..{last} ({len(feed.published)} new); "
        f"each opens at its seed block (harness feed show --epoch {last})"
    )


@demo_app.command("build")
def build_cmd(ctx: typer.Context) -> None:
    """Build the bundled models into the cache where missing (the VLM trains for minutes); prints their folders."""
    for role, folder in build_all(Path(state_of(ctx).settings.cache_dir)).items():
        typer.echo(f"{role:<17} {folder}")


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
