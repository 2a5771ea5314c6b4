"""`harness run` (the validator service) and `harness round --once`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.context import state_of
from harness.errors import HarnessError
from harness.evaluation.contract import Stopped


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(ctx: typer.Context) -> None:
        """Run the validator forever: rounds on the configured cadence; SIGTERM checkpoints and stops."""
        _serve(ctx, once=False)

    @app.command("round")
    def round_(
        ctx: typer.Context,
        once: Annotated[bool, typer.Option("--once", help="Run (or resume) one round, then exit.")] = False,
    ) -> None:
        """Run one round now (resuming an interrupted one) and print its id."""
        if not once:
            raise HarnessError("use `harness round --once` (or `harness run` for the service)")
        _serve(ctx, once=True)


def _serve(ctx: typer.Context, *, once: bool) -> None:
    # why: the service pulls in the docker SDK (and ray for executor=ray); every other command starts without them
    from harness.round.preflight import preflight
    from harness.round.service import build_supervisor, status_endpoint, stop_on_signals
    from harness.sandbox import reap_orphans

    settings = state_of(ctx).settings
    preflight(
        settings.chain, Path(settings.cache_dir), allow_fingerprint_mismatch=settings.scoring.allow_fingerprint_mismatch
    )
    supervisor = build_supervisor(settings)
    reap_orphans(socket_dirs_root=settings.sandbox.socket_root)
    with stop_on_signals(supervisor), status_endpoint(supervisor):
        if once:
            try:
                round_id = supervisor.run_round()
            except Stopped:
                typer.echo("stopped; the round resumes on the next start", err=True)
                raise typer.Exit(3) from None
            typer.echo(round_id)
        else:
            supervisor.run_forever()
