"""Settings of the demo miners (`demo` section) that `harness demo seed` commits on the local chain."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DemoConfig(BaseModel):
    """Hotkeys of the demo miners; the repo names they publish under are fixed in `harness.demo.seed`."""

    competition: str = Field(default="any2any", description="Competition every demo miner commits to.")
    good_hotkey: str = Field(default="miner-good", description="Commits the demo VLM (sees images).")
    worse_hotkey: str = Field(default="miner-worse", description="Commits the demo VLM with a noised vision tower.")
    text_hotkey: str = Field(default="miner-text", description="Commits the text-only SmolLM2 (cannot see).")
    copy_hotkey: str = Field(default="miner-copy", description="Commits the good model's content later, renamed.")
    hostile_hotkey: str = Field(default="miner-hostile", description="Commits a model policy rejects.")
    junk_hotkey: str = Field(default="miner-junk", description="Commits a malformed commitment.")
    better_hotkey: str = Field(
        default="miner-better",
        description="Commits the demo VLM trained further, later than the others (`harness demo improve`).",
    )
    curator_key_uri: str = Field(
        default="//Alice",
        description="Secret URI of the demo's task curator (a public development key: the demo only). `harness demo "
        "seed` signs feed batches with it when `tasks.feed_url` is a local folder.",
    )
    feed_epochs: int = Field(
        default=120, ge=1, le=10_000, description="Epochs ahead (the current one first) the demo curator locks."
    )
    feed_batch_size: int = Field(default=10, ge=1, le=10_000, description="Entries in each demo feed batch.")
    shared_cache_dir: str | None = Field(
        default="~/.cache/harness",
        description=(
            "Machine-wide cache (the tests' and every clone's): the seed reuses the bundled models built there"
            " (the VLM trains for minutes) and leaves there the ones it built; empty or null: no sharing."
        ),
    )
