"""The demo's task curator: locked, signed feed batches for the local chain's coming epochs.

`make harness-up` runs it (through `harness demo seed`) so the stack shows what a subnet owner's curator does
(docs/feed.md): each epoch's batch sits in the feed folder from the start, and `harness feed show` says it is
locked until the local chain reaches the epoch's seed block, then open; the round of that epoch takes its feed
share from it, and every validator reads the same bytes.

What is a stand-in here, and why. A real curator's pool is private (tasks nobody could train on); the demo has
only public data, so its pool is BFCL v4 lines (the installed `bfcl_eval` files, answer keys inline), and the
demo's "curator" key is the public development key `//Alice`. The lock is the real one (`bittensor_core`
time-lock encryption) to the one public drand round whose signature is known offline, released by the local
beacon at the seed block (`harness.feed.beacon.LocalBeacon`). Batches already in the folder are never rebuilt:
a batch a validator may have read keeps its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.base import epoch_start
from harness.errors import HarnessError
from harness.feed.beacon import KNOWN_ROUND
from harness.feed.curator import PoolLine, build_batches, check_rows, load_keypair
from harness.feed.source import batch_name, is_http, publish
from harness.tasks.bfcl import default_data_dir
from harness.tasks.jsonl import read_objects

POOL_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple")


@dataclass(frozen=True)
class DemoFeed:
    """What the demo curator left in the feed folder."""

    folder: str
    epochs: tuple[int, ...]
    """Seed blocks the folder now has a batch for (the ones published now and the ones found there)."""
    published: tuple[int, ...]
    """Seed blocks whose batch was built and published by this call."""

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "epochs": list(self.epochs), "published": list(self.published)}


def pool_rows(data_dir: Path, categories: tuple[str, ...] = POOL_CATEGORIES) -> list[tuple[int, dict[str, Any]]]:
    """BFCL lines in the private pool's format (question, functions, `ground_truth` inline), numbered."""
    rows: list[dict[str, Any]] = []
    for category in categories:
        answers = {
            row.get("id"): row.get("ground_truth")
            for _, row in read_objects(data_dir / "possible_answer" / f"BFCL_v4_{category}.json", "BFCL answers")
        }
        for _, question in read_objects(data_dir / f"BFCL_v4_{category}.json", "BFCL file"):
            if isinstance(answers.get(question.get("id")), list):
                rows.append({**question, "ground_truth": answers[question["id"]]})
    return list(enumerate(rows, 1))


def _checked_pool(settings: Any) -> list[PoolLine]:
    data_dir = settings.tasks.bfcl_data_dir or default_data_dir()
    return check_rows(pool_rows(Path(data_dir)), "bfcl-demo-pool").accepted


def publish_demo_feed(settings: Any, chain: Any) -> DemoFeed | None:
    """Batches for the current epoch and the next `demo.feed_epochs - 1`, each `demo.feed_batch_size` entries,
    locked to the local beacon's round and signed with `demo.curator_key_uri`. None when no local feed folder is
    configured (`tasks.feed_url` unset, or an HTTP feed the demo does not own)."""
    feed_url = settings.tasks.feed_url
    if not feed_url or is_http(feed_url):
        return None
    keypair = load_keypair(uri=settings.demo.curator_key_uri)
    if keypair.ss58_address != settings.tasks.feed_curator:
        raise HarnessError(
            f"demo.curator_key_uri signs as {keypair.ss58_address}, but tasks.feed_curator is "
            f"{settings.tasks.feed_curator}: validators would refuse every batch (feed/wrong-curator)"
        )
    tempo = chain.tempo()
    first = epoch_start(chain.current_block(), tempo)
    epochs = [first + index * tempo for index in range(settings.demo.feed_epochs)]
    folder = Path(feed_url)
    missing = [epoch for epoch in epochs if not (folder / batch_name(epoch)).exists()]
    if missing:
        batches = build_batches(
            _checked_pool(settings), missing, keypair, lambda _epoch: KNOWN_ROUND, settings.demo.feed_batch_size
        )
        for batch in batches:
            publish(str(folder), batch.epoch, batch.to_bytes())
    return DemoFeed(str(folder), tuple(epochs), tuple(missing))
