"""`harness commitment MODEL --hotkey HK`: the commitment line a miner publishes, computed as validators verify it.

Exit codes: 0 printed (and committed with --submit), 1 rejected by policy, 2 could not compute or commit.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from chain.base import ChainError
from chain.factory import open_chain, open_local_chain
from harness.cli.context import state_of
from harness.errors import HarnessError
from harness.miner.commitment import compute_commitment


def _submit(line: str, hotkey: str, settings) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Commit on the configured chain; returns (block, where)."""
    try:
        if settings.chain.backend == "local":
            chain = open_local_chain(settings.chain, settings.cache_dir)
            chain.register(hotkey)
            return chain.commit(hotkey, line), "the local chain"
        chain = open_chain(settings.chain, settings.cache_dir)
        try:
            if chain.hotkey != hotkey:  # type: ignore[attr-defined]
                raise HarnessError(
                    f"--hotkey {hotkey} is not the configured wallet's hotkey {chain.hotkey}: "  # type: ignore[attr-defined]
                    "the HASH is salted with the committing hotkey"
                )
            return chain.commit(line), f"netuid {settings.chain.netuid} on {settings.chain.network}"  # type: ignore[attr-defined]
        finally:
            chain.close()
    except ChainError as exc:
        raise HarnessError(f"commit failed: {exc}") from None


def register(app: typer.Typer) -> None:
    @app.command("commitment")
    def commitment(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A local model folder or hf://ORG/NAME@REVISION.")],
        hotkey: Annotated[str, typer.Option(help="The hotkey that commits (the HASH is salted with it).")],
        repo: Annotated[str | None, typer.Option(help="ORG/NAME the folder is published as (local MODEL).")] = None,
        revision: Annotated[
            str | None, typer.Option(help="Full 40-hex commit sha of the published revision (local MODEL).")
        ] = None,
        competition: Annotated[str | None, typer.Option(help="Competition to enter (default: the subnet's).")] = None,
        submit: Annotated[bool, typer.Option("--submit", help="Commit the line on the configured chain.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Print ORG/NAME:REVISION:HASH[:COMPETITION] for MODEL as validators will verify it: policy check, then
        the hotkey-salted hash over exactly the files policy allows. With --submit, commit it.

        Exit 0 printed (committed), 1 rejected by policy, 2 could not compute or commit.
        """
        settings = state_of(ctx).settings
        result = compute_commitment(model, hotkey, settings, repo=repo, revision=revision, competition=competition)
        if not result.allowed:
            typer.echo(result.policy_text)
            raise typer.Exit(1)
        if submit and result.line is None:
            raise HarnessError("--submit needs the commitment line: give --repo and --revision for a local folder")
        committed = _submit(result.line, hotkey, settings) if submit and result.line else None
        if as_json:
            payload = {
                "model": result.model,
                "hotkey": hotkey,
                "commitment": result.line,
                "content_hash": result.content_hash,
                "content_identity": result.identity,
                "files": list(result.files),
                "committed_block": committed[0] if committed else None,
            }
            typer.echo(json.dumps(payload, indent=1))
            return
        if result.line is None:
            typer.echo(f"HASH {result.content_hash}  (give --repo and --revision for the full commitment line)")
        else:
            typer.echo(result.line)
        if committed:
            typer.echo(f"committed for {hotkey} at block {committed[0]} on {committed[1]}", err=True)
