"""Fixtures of the feed tests: a curator's pool (BFCL rows with their answer keys inline, the private pool's line
format), the curator's real sr25519 key, a local chain with epochs of ten blocks, and batches locked (for real,
`bittensor_core`) to the one public drand round whose signature the local beacon knows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import bittensor_core
import pytest

from chain.local import LocalChain
from chain.retry import RetryPolicy
from harness.feed import curator
from harness.feed.batch import Batch
from harness.feed.beacon import KNOWN_ROUND
from harness.feed.source import publish
from harness.settings.root import Settings
from tests.support.bfcl_support import load_category

TEMPO = 10


@pytest.fixture(scope="session")
def pool_rows() -> list[dict[str, Any]]:
    """Sixty pool lines: thirty `simple` and thirty `multiple` BFCL entries, ground truth inline."""
    rows = []
    for category in ("simple_python", "multiple"):
        rows += [{**q, "ground_truth": answer} for q, answer in load_category(category)[:30]]
    return rows


@pytest.fixture(scope="session")
def pool_lines(pool_rows: list[dict[str, Any]]) -> list[curator.PoolLine]:
    checked = curator.check_rows(list(enumerate(pool_rows, 1)), "pool")
    assert len(checked.accepted) >= 50
    return checked.accepted


@pytest.fixture(scope="session")
def alice() -> Any:
    return bittensor_core.Keypair.create_from_uri("//Alice")


@pytest.fixture(scope="session")
def bob() -> Any:
    return bittensor_core.Keypair.create_from_uri("//Bob")


@pytest.fixture
def chain10(tmp_path: Path) -> LocalChain:
    return LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=TEMPO, retry=RetryPolicy(attempts=1))


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    return tmp_path / "feed"


@pytest.fixture
def make_settings(tmp_path: Path, feed_dir: Path, alice: Any) -> Callable[..., Settings]:
    """Settings of a validator reading `feed_dir`, signed batches from Alice, the local beacon (local chain)."""

    def make(name: str = "v", **tasks: Any) -> Settings:
        fields = {
            "feed_url": str(feed_dir),
            "feed_curator": alice.ss58_address,
            "toolcall_n": 20,
            "bfcl_fraction": 0.0,
            "feed_fraction": 0.8,  # below the default 1.0, so a round mixes feed and local tasks the tests tell apart
            **tasks,
        }
        return Settings(cache_dir=tmp_path / name, tasks=fields)

    return make


@pytest.fixture
def publish_batches(feed_dir: Path, pool_lines: list[curator.PoolLine], alice: Any) -> Callable[..., list[Batch]]:
    """Build and publish one batch per epoch from the pool (Alice's key, the known round by default)."""

    def build(epochs: list[int], keypair: Any = None, drand_round: int = KNOWN_ROUND) -> list[Batch]:
        batches = curator.build_batches(pool_lines, epochs, keypair or alice, lambda _epoch: drand_round)
        for batch in batches:
            publish(str(feed_dir), batch.epoch, batch.to_bytes())
        return batches

    return build
