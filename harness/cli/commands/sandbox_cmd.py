"""`harness sandbox run|reap`: start one hardened engine by hand, or clean up what a crash left behind."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.context import state_of
from harness.sandbox import SandboxSpec, reap_orphans, run_sandbox

sandbox_app = typer.Typer(help="Run a model in the hardened sandbox by hand; clean up leftovers.", no_args_is_help=True)


@sandbox_app.command("run")
def run_cmd(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="Local model folder (HF format), mounted read-only at /model.")],
    engine: Annotated[str | None, typer.Option(help="cpu or sglang (default: sandbox.engine).")] = None,
    for_seconds: Annotated[
        float | None, typer.Option("--for", help="Keep it up this many seconds (default: until Ctrl-C).")
    ] = None,
    competition: Annotated[str | None, typer.Option(help="Competition (selects sglang's tool-call parser).")] = None,
) -> None:
    """Start the engine; print {"container": ID, "socket": PATH} once healthy; remove it when time is up."""

    settings = state_of(ctx).settings
    if engine not in (None, "cpu", "sglang"):
        raise typer.BadParameter("--engine must be cpu or sglang")
    spec = SandboxSpec.from_settings(settings.sandbox, engine=engine, competition=competition)
    reap_orphans(socket_dirs_root=settings.sandbox.socket_root)
    # SIGTERM (systemd, docker stop, timeout) takes the same cleanup path as Ctrl-C (harness.cli.app.sigterm_unwinds).
    with run_sandbox(spec, model_dir) as sandbox:
        print(json.dumps({"container": sandbox.container_id, "socket": str(sandbox.socket_path)}), flush=True)
        deadline = None if for_seconds is None else time.monotonic() + for_seconds
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
        except KeyboardInterrupt:
            print("interrupted: removing the sandbox", file=sys.stderr)


@sandbox_app.command("reap")
def reap_cmd(
    ctx: typer.Context,
    all_hosts: Annotated[
        bool, typer.Option("--all-hosts", help="Also remove sandboxes labelled by other host names (containers).")
    ] = False,
) -> None:
    """Remove labelled sandbox containers (and socket dirs) whose harness process is gone."""

    settings = state_of(ctx).settings
    removed = reap_orphans(socket_dirs_root=settings.sandbox.socket_root, all_hosts=all_hosts)
    print(json.dumps({"removed": removed}))


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
