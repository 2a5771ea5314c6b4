"""`harness chain ...`: commit a model on the local chain (demo miners) and show what the chain holds."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from chain.base import Chain, ChainError
from chain.commitment import CommitmentError
from chain.commitment import format as format_commitment
from chain.factory import local_db_path, open_chain, open_local_chain
from harness.cli.context import state_of
from harness.errors import HarnessError

chain_app = typer.Typer(help="The chain: commit a model (local chain) or show neurons, commitments and weights.")


def _settings(ctx: typer.Context):

    return state_of(ctx).settings


@chain_app.command("commit")
def commit(
    ctx: typer.Context,
    hotkey: Annotated[str, typer.Option(help="Miner hotkey (registered as a neuron if new).")],
    model: Annotated[str | None, typer.Option(help="Hugging Face repo id, ORG/NAME.")] = None,
    revision: Annotated[str | None, typer.Option(help="Full 40-hex commit sha of the model revision.")] = None,
    hash_: Annotated[
        str | None,
        typer.Option(
            "--hash",
            help="Content hash of the model files: 64 hex or 43 base64url characters (committed as base64url).",
        ),
    ] = None,
    competition: Annotated[str | None, typer.Option(help="Optional competition id.")] = None,
    raw: Annotated[
        str | None, typer.Option(help="Commit this text as is, unchecked (to test how validators treat junk).")
    ] = None,
) -> None:
    """Commit ORG/NAME:REVISION:HASH[:COMPETITION] for a hotkey on the local chain."""
    settings = _settings(ctx)
    if settings.chain.backend != "local":
        raise HarnessError("`harness chain commit` writes to the local chain only (chain.backend is not local)")
    if raw is not None:
        if model or revision or hash_ or competition:
            raise HarnessError("--raw replaces --model/--revision/--hash/--competition; give one or the other")
        text = raw
    else:
        if not (model and revision and hash_):
            raise HarnessError("--model, --revision and --hash are required (or --raw)")
        try:
            text = format_commitment(model, revision, hash_, competition)
        except CommitmentError as exc:
            raise HarnessError(f"invalid commitment: {exc}") from None
    try:
        chain = open_local_chain(settings.chain, settings.cache_dir)
        uid = chain.register(hotkey)
        block = chain.commit(hotkey, text)
    except ChainError as exc:
        raise HarnessError(str(exc)) from None
    typer.echo(f"committed {text} for {hotkey} (uid {uid}) at block {block}")


@chain_app.command("advance")
def advance(
    ctx: typer.Context,
    blocks: Annotated[int, typer.Option(min=0, help="Blocks to add.")] = 1,
) -> None:
    """Move the local chain forward by BLOCKS (demos and tests)."""
    settings = _settings(ctx)
    if settings.chain.backend != "local":
        raise HarnessError("`harness chain advance` works on the local chain only")
    try:
        block = open_local_chain(settings.chain, settings.cache_dir).advance(blocks)
    except ChainError as exc:
        raise HarnessError(str(exc)) from None
    typer.echo(f"block {block}")


def chain_snapshot(chain: Chain) -> dict[str, Any]:
    block = chain.current_block()
    try:
        last, last_error = chain.last_weights(), None
    except ChainError as exc:  # e.g. no validator wallet on this machine: show the rest anyway
        last, last_error = None, str(exc)
    try:
        pending = [{"commit_block": b, "reveal_round": r} for b, r in chain.pending_commits()]
        activity = chain.validator_activity()
        validator: dict[str, Any] | None = {
            "pending_commits": pending,
            "last_update": activity.last_update,
            "blocks_since_last_update": activity.blocks_since,
            "activity_cutoff": activity.activity_cutoff,
            "warning": activity.warning(),
        }
        validator_error = None
    except ChainError as exc:  # the same: a chain that knows no validator of ours
        validator, validator_error = None, str(exc)
    return {
        "block": block,
        "block_hash": chain.block_hash(block),
        "neurons": [asdict(n) for n in chain.neurons()],
        "commitments": [
            {
                "uid": r.uid,
                "hotkey": r.hotkey,
                "block": r.block,
                "raw": r.raw,
                "ok": r.ok,
                "error": r.error,
                "model": r.commitment.model_ref if r.commitment else None,
                "content_hash": r.commitment.content_hash if r.commitment else None,
                "competition": r.commitment.competition if r.commitment else None,
            }
            for r in chain.commitments()
        ],
        "last_weights": asdict(last) if last else None,
        "last_weights_error": last_error,
        "validator": validator,
        "validator_error": validator_error,
    }


@chain_app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the current block, neurons, commitments (with parse status), the last weights in force, weight commits
    still waiting for their reveal, and blocks since this validator's last update against the activity cutoff."""
    settings = _settings(ctx)
    try:
        chain = open_chain(settings.chain, settings.cache_dir)
        try:
            snap = chain_snapshot(chain)
        finally:
            chain.close()
    except ChainError as exc:
        raise HarnessError(f"chain: {exc}") from None
    if as_json:
        typer.echo(json.dumps(snap, indent=2))
        return
    where = (
        str(local_db_path(settings.chain, settings.cache_dir))
        if settings.chain.backend == "local"
        else f"{settings.chain.network} netuid {settings.chain.netuid}"
    )
    typer.echo(f"chain: {settings.chain.backend} ({where})")
    typer.echo(f"block: {snap['block']} {snap['block_hash']}")
    typer.echo(f"neurons: {len(snap['neurons'])}")
    for n in snap["neurons"]:
        typer.echo(f"  uid {n['uid']:>4}  {n['hotkey']}")
    typer.echo(f"commitments: {len(snap['commitments'])}")
    for c in snap["commitments"]:
        state = "ok" if c["ok"] else f"INVALID: {c['error']}"
        typer.echo(f"  uid {c['uid']!s:>4}  block {c['block']:>8}  {c['raw']}  [{state}]")
    last = snap["last_weights"]
    if last:
        pairs = ", ".join(f"{u}:{w:.4f}" for u, w in zip(last["uids"], last["weights"], strict=True))
        typer.echo(f"last weights: block {last['block']}  {pairs}")
    elif snap["last_weights_error"]:
        typer.echo(f"last weights: unknown ({snap['last_weights_error']})")
    else:
        typer.echo("last weights: none")
    _echo_validator(snap["validator"], snap["validator_error"])


def _echo_validator(validator: dict[str, Any] | None, error: str | None) -> None:
    """Weight commits not yet revealed (under commit-reveal the last weights above are the previous ones until
    then) and how close this validator is to the activity cutoff."""
    if validator is None:
        typer.echo(f"weight commits: unknown ({error})")
        return
    pending = validator["pending_commits"]
    if not pending:
        typer.echo("weight commits pending: none")
    for commit in pending:
        block, reveal = commit["commit_block"], commit["reveal_round"]
        typer.echo(f"weight commit pending: block {block}, reveals at drand round {reveal}")
    if validator["last_update"]:
        typer.echo(
            f"last update: block {validator['last_update']} ({validator['blocks_since_last_update']} blocks ago; "
            f"activity cutoff {validator['activity_cutoff']})"
        )
    if validator["warning"]:
        typer.echo(f"WARNING: {validator['warning']}")


def register(app: typer.Typer) -> None:
    app.add_typer(chain_app, name="chain")
