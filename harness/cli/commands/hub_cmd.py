"""`harness hub ...`: publish model folders into a local Hub mirror and serve it over HTTP."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.context import state_of
from harness.demo.hub_mirror import MirrorServer, mirror_repos, publish
from harness.errors import HarnessError
from harness.settings.root import Settings

hub_app = typer.Typer(help="A local, read-only Hugging Face Hub mirror (air-gapped validators, demos).")


def _settings(ctx: typer.Context) -> Settings:
    return state_of(ctx).settings


@hub_app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Model folder to publish.")],
    repo: Annotated[str, typer.Option(help="Repo id in the mirror, ORG/NAME.")],
    root: Annotated[Path | None, typer.Option(help="Mirror directory (default: mirror.root).")] = None,
    branch: Annotated[str, typer.Option(help="Branch that then points at the new revision.")] = "main",
    link: Annotated[
        bool, typer.Option("--link", help="Hardlink files instead of copying (the source must stay unchanged).")
    ] = False,
) -> None:
    """Copy FOLDER into the mirror under a revision derived from its content; prints hf://ORG/NAME@SHA."""
    settings = _settings(ctx)
    target = root or settings.paths.mirror
    try:
        published = publish(folder, repo, target, branch=branch, link=link)
    except OSError as exc:
        raise HarnessError(f"cannot publish {folder}: {exc}") from None
    typer.echo(published.ref)


@hub_app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    root: Annotated[Path | None, typer.Option(help="Mirror directory (default: mirror.root).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: mirror.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: mirror.port, 8765).")] = None,
) -> None:
    """Serve the mirror with the Hub's API until interrupted; point validators at it with hub.endpoint=URL."""
    settings = _settings(ctx)
    target = root or settings.paths.mirror
    if not target.is_dir():
        raise HarnessError(f"no mirror at {target}; fill it with `harness hub publish FOLDER --repo ORG/NAME`")
    server = MirrorServer(
        target,
        host=host if host is not None else settings.mirror.host,
        port=port if port is not None else settings.mirror.port,
    )
    try:
        server.bind()
    except OSError as exc:
        raise HarnessError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}") from None
    repos = mirror_repos(target)
    typer.echo(f"serving {len(repos)} repo(s) from {target} at {server.url} (set hub.endpoint={server.url})", err=True)
    # As PID 1 in a container SIGTERM has no default action: turn it into a clean exit.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.add_typer(hub_app, name="hub")
