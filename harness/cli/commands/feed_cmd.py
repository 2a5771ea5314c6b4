"""`harness feed`: the curator's side of the task feed (build, publish) and what a validator would read (show).

See docs/feed.md. `build` validates a BFCL-format pool (each answer key must pass BFCL's checker), optionally
paraphrases its questions, splits it into one batch per epoch, locks each to its drand round and signs it with
the curator's key; `publish` puts the batches where validators read them (`tasks.feed_url`); `show` reads an
epoch's batch exactly as a round would and says whether it is still locked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli.context import state_of
from harness.errors import HarnessError

feed_app = typer.Typer(help="The task feed: build, publish and inspect time-locked, signed task batches.")


def _chain(settings: Any) -> Any:
    from chain.factory import open_chain

    return open_chain(settings.chain, settings.cache_dir)


@feed_app.command("build")
def build(
    ctx: typer.Context,
    pool: Annotated[Path, typer.Argument(help="BFCL-format JSONL pool (a private pool's line format).")],
    epochs: Annotated[str, typer.Option(help="Seed blocks: `B1,B2,...` or `FIRST+COUNT` (tempo apart).")],
    out: Annotated[Path, typer.Option(help="Folder to write `epoch-<block>.json` batches into.")],
    key_uri: Annotated[str | None, typer.Option(help="Curator key: secret URI or mnemonic (`//Alice`).")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="Curator key: a bittensor hotkey file.")] = None,
    per_epoch: Annotated[int | None, typer.Option(min=1, help="At most this many entries a batch.")] = None,
    tempo: Annotated[int | None, typer.Option(min=1, help="Blocks per epoch; default: the chain's.")] = None,
    lock: Annotated[
        str, typer.Option(help="`local`: the local beacon's known round; `drand`: the round at each seed block.")
    ] = "drand",
    anchor_block: Annotated[
        int | None, typer.Option(help="drand lock: a block whose time is now; default: the chain's current block.")
    ] = None,
    block_time_s: Annotated[float, typer.Option(help="drand lock: expected seconds per block.")] = 12.0,
    lead_s: Annotated[float, typer.Option(help="drand lock: open this many seconds before the seed block.")] = 60.0,
    paraphrase_url: Annotated[
        str | None, typer.Option(help="Rewrite each question at this OpenAI-compatible base URL first.")
    ] = None,
    paraphrase_model: Annotated[str, typer.Option(help="Model name sent to the paraphrase endpoint.")] = "default",
) -> None:
    """Validate POOL, split it into one locked, signed batch per epoch, and write them into OUT."""
    from harness.feed import beacon, curator
    from harness.feed.source import publish

    settings = state_of(ctx).settings
    keypair = curator.load_keypair(key_uri, keyfile)
    if lock not in ("local", "drand"):
        raise HarnessError("--lock is `local` or `drand`")
    needs_chain = tempo is None or (lock == "drand" and anchor_block is None)
    chain = _chain(settings) if needs_chain else None
    seed_blocks = curator.parse_epochs(epochs, tempo or chain.tempo())
    checked = curator.check_pool(pool)
    for line in checked.rejected:
        typer.echo(f"left out: {line}", err=True)
    lines = checked.accepted
    if paraphrase_url:
        from harness.feed.paraphrase import paraphrase

        result = paraphrase(lines, paraphrase_url, paraphrase_model)
        typer.echo(f"paraphrased: {len(result.kept)} kept, {len(result.dropped)} left out (a value lost)", err=True)
        lines = result.kept
    if lock == "local":
        round_of = lambda _epoch: beacon.KNOWN_ROUND  # noqa: E731
    else:
        anchor = anchor_block if anchor_block is not None else chain.current_block()
        now = time.time()
        round_of = lambda epoch: beacon.drand_round_for_epoch(  # noqa: E731
            epoch, anchor_block=anchor, anchor_time=now, block_time_s=block_time_s, lead_s=lead_s
        )
    for batch in curator.build_batches(lines, seed_blocks, keypair, round_of, per_epoch):
        where = publish(str(out), batch.epoch, batch.to_bytes())
        typer.echo(f"{where}: epoch {batch.epoch}, {batch.entries} entries, drand round {batch.drand_round}")
    typer.echo(f"curator {keypair.ss58_address}", err=True)


@feed_app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder of batches written by `harness feed build`.")],
    to: Annotated[str | None, typer.Option(help="Feed folder or http(s) URL (PUT); default: tasks.feed_url.")] = None,
) -> None:
    """Copy (or PUT) every batch of FOLDER to the feed, after checking each is a signed batch."""
    from harness.feed import batch as batch_format
    from harness.feed.errors import FeedError
    from harness.feed.source import publish

    settings = state_of(ctx).settings
    target = to or settings.tasks.feed_url
    if not target:
        raise HarnessError("no feed to publish to: give --to or set tasks.feed_url")
    files = sorted(folder.glob("epoch-*.json"))
    if not files:
        raise HarnessError(f"no epoch-*.json batches in {folder}")
    for path in files:
        data = path.read_bytes()
        try:
            parsed = batch_format.parse(data)
            batch_format.verify_signature(parsed)
        except FeedError as exc:
            raise HarnessError(f"{path}: feed/{exc.failure_class}: {exc}") from None
        typer.echo(f"{publish(target, parsed.epoch, data)}: epoch {parsed.epoch}, {parsed.entries} entries")


@feed_app.command("show")
def show(
    ctx: typer.Context,
    epoch: Annotated[int | None, typer.Option(help="Seed block of the epoch; default: the current epoch.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What a validator would read for an epoch (the same reader as a round) and whether it is still locked."""
    from chain.base import epoch_start
    from harness.feed.wiring import beacon_kind, feed_source, read_epoch_feed

    settings = state_of(ctx).settings
    source = feed_source(settings.tasks)
    if source is None:
        raise HarnessError("no task feed configured (tasks.feed_url)")
    chain = _chain(settings)
    block = chain.current_block()
    epoch = epoch if epoch is not None else epoch_start(block, chain.tempo())
    feed = read_epoch_feed(settings, chain, epoch)
    assert feed is not None
    payload: dict[str, Any] = {
        "epoch": epoch,
        "block": block,
        "source": source.location,
        "curator": source.curator,
        "beacon": beacon_kind(settings),
        **feed.task_set_record(),
    }
    if feed.failure is not None:
        payload.update(
            status="locked" if feed.failure.failure_class == "locked" else "failed", reason=feed.failure.message
        )
    else:
        payload["status"] = "open"
    if as_json:
        typer.echo(json.dumps(payload, indent=1))
    else:
        typer.echo("\n".join(f"{key:<13} {value}" for key, value in payload.items()))
    if feed.failure is not None and feed.failure.failure_class != "locked":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(feed_app, name="feed")
