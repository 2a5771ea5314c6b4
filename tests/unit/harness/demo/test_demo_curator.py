"""The demo curator: `harness demo seed` leaves one locked, signed feed batch per coming epoch, which a validator
reads through the round's own reader: open from its seed block on, locked one block before, never rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.local import LocalChain
from harness.demo.curator import publish_demo_feed
from harness.demo.seed import open_next_epoch
from harness.errors import HarnessError
from harness.feed.source import batch_name
from harness.feed.wiring import read_epoch_feed
from harness.settings.root import Settings

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
TEMPO = 10


def _settings(tmp_path: Path, curator: str = ALICE) -> Settings:
    return Settings(
        cache_dir=tmp_path / "data",
        chain={"local_tempo": TEMPO, "block_period_s": 0},
        tasks={"feed_url": str(tmp_path / "feed"), "feed_curator": curator},
        demo={"feed_epochs": 4, "feed_batch_size": 5},
    )


@pytest.fixture
def chain(tmp_path: Path) -> LocalChain:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=TEMPO)
    chain.advance(13)
    return chain


def test_seed_locks_a_batch_per_coming_epoch_each_opening_at_its_seed_block(tmp_path: Path, chain: LocalChain) -> None:
    settings = _settings(tmp_path)
    feed = publish_demo_feed(settings, chain)
    assert feed is not None and feed.epochs == (10, 20, 30, 40) and feed.published == feed.epochs
    assert sorted(p.name for p in (tmp_path / "feed").iterdir()) == [batch_name(e) for e in feed.epochs]

    current = read_epoch_feed(settings, chain, 10)
    assert current is not None and current.ok and len(current.entries) == 5
    chain.advance(19 - chain.current_block())  # one block before epoch 20 opens
    early = read_epoch_feed(settings, chain, 20)
    assert early is not None and early.failure is not None and early.failure.failure_class == "locked"
    chain.advance(1)
    opened = read_epoch_feed(settings, chain, 20)
    assert opened is not None and opened.ok
    assert {e["source"] for e in opened.entries}.isdisjoint(e["source"] for e in current.entries)


def test_seeding_again_keeps_every_published_batch_byte_for_byte(tmp_path: Path, chain: LocalChain) -> None:
    settings = _settings(tmp_path)
    publish_demo_feed(settings, chain)
    before = {p.name: p.read_bytes() for p in (tmp_path / "feed").iterdir()}
    chain.advance(10)  # one epoch later: one new epoch to lock, the rest are kept
    again = publish_demo_feed(settings, chain)
    assert again is not None and again.published == (50,)
    after = {p.name: p.read_bytes() for p in (tmp_path / "feed").iterdir()}
    assert {name: after[name] for name in before} == before


def test_a_curator_key_the_validators_do_not_trust_is_refused(tmp_path: Path, chain: LocalChain) -> None:
    bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
    with pytest.raises(HarnessError, match="feed/wrong-curator"):
        publish_demo_feed(_settings(tmp_path, curator=bob), chain)
    assert not (tmp_path / "feed").exists()


def test_no_local_feed_folder_means_no_curator(tmp_path: Path, chain: LocalChain) -> None:
    assert publish_demo_feed(Settings(cache_dir=tmp_path / "data"), chain) is None


def test_the_next_epoch_opens_after_the_demo_commitments(chain: LocalChain) -> None:
    chain.register("miner-good")
    chain.commit("miner-good", "demo/a:" + "a" * 40 + ":" + "A" * 43 + ":any2any")
    committed_at = chain.current_block()
    block = open_next_epoch(chain)
    assert block % TEMPO == 0 and block > committed_at  # the first round's seed block counts the commitment
    assert open_next_epoch(chain) == block  # nothing committed since: the chain stays put
