from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from chain.base import Chain, ChainError, ChainTimeout, RateLimited
from chain.local import LocalChain
from chain.retry import RetryPolicy

REV = "a" * 40
HASH = "b" * 64


def good(name: str = "acme/m", rev: str = REV) -> str:
    return f"{name}:{rev}:{HASH}"


def test_is_a_chain(chain: LocalChain) -> None:
    assert isinstance(chain, Chain)


def test_blocks_follow_wall_time_plus_explicit_advances(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("chain.local.time.time", lambda: clock[0])
    chain = LocalChain(tmp_path / "c.sqlite", block_period_s=12)
    assert chain.current_block() == 0
    clock[0] += 12 * 5 + 1
    assert chain.current_block() == 5
    assert chain.advance(3) == 8
    # A second handle on the same file sees the same chain (genesis is stored, not per process).
    assert LocalChain(tmp_path / "c.sqlite", block_period_s=12).current_block() == 8


def test_block_hash_is_deterministic_per_chain_and_block(tmp_path: Path) -> None:
    a = LocalChain(tmp_path / "a.sqlite", block_period_s=0, chain_id="one")
    b = LocalChain(tmp_path / "b.sqlite", block_period_s=0, chain_id="one")
    c = LocalChain(tmp_path / "c.sqlite", block_period_s=0, chain_id="two")
    for chain in (a, b, c):
        chain.advance(2)
    assert a.block_hash(1) == b.block_hash(1) != c.block_hash(1)
    assert a.block_hash(1) != a.block_hash(2)
    with pytest.raises(ChainError, match="future"):
        a.block_hash(3)


def test_register_is_idempotent_and_uids_increase(chain: LocalChain) -> None:
    assert [chain.register(h) for h in ("m1", "m2", "m1", "m3")] == [0, 1, 0, 2]
    assert [(n.uid, n.hotkey) for n in chain.neurons()] == [(0, "m1"), (1, "m2"), (2, "m3")]
    with pytest.raises(ChainError, match="hotkey"):
        chain.register(" padded")


def test_latest_commitment_per_hotkey_counts_with_its_block(chain: LocalChain) -> None:
    chain.register("m1")
    chain.register("m2")
    chain.commit("m1", good(rev="1" * 40))
    chain.advance(4)
    chain.commit("m2", "not a commitment")
    chain.advance(2)
    chain.commit("m1", good(rev="2" * 40))
    records = {r.hotkey: r for r in chain.commitments()}
    assert records["m1"].block == 6 and records["m1"].commitment.revision == "2" * 40
    assert records["m2"].block == 4 and not records["m2"].ok
    assert "':'-separated parts" in records["m2"].error
    assert records["m2"].raw == "not a commitment"
    # as of block 5 (a round's seed block): m1's earlier commitment counts, not the one made after it
    at_seed = {r.hotkey: r for r in chain.commitments(at_block=5)}
    assert at_seed["m1"].block == 0 and at_seed["m1"].commitment.revision == "1" * 40
    assert {r.hotkey for r in chain.commitments(at_block=3)} == {"m1"}


def test_tempo_is_a_setting_of_the_local_chain(tmp_path: Path) -> None:
    from chain.base import epoch_start

    assert LocalChain(tmp_path / "a.sqlite", block_period_s=0, tempo=360).tempo() == 360
    assert [epoch_start(b, 10) for b in (0, 9, 10, 19, 20)] == [0, 0, 10, 10, 20]
    with pytest.raises(ChainError, match="tempo"):
        LocalChain(tmp_path / "b.sqlite", block_period_s=0, tempo=0)


def test_commit_needs_registration_and_fits_128_bytes(chain: LocalChain) -> None:
    with pytest.raises(ChainError, match="not registered"):
        chain.commit("ghost", good())
    chain.register("m1")
    with pytest.raises(ChainError, match="128"):
        chain.commit("m1", "x" * 129)


def test_weights_are_stored_normalised_and_readable(chain: LocalChain) -> None:
    for h in ("m1", "m2"):
        chain.register(h)
    chain.advance(7)
    receipt = chain.set_weights([0, 1], [1.0, 3.0])
    assert receipt.block == 7 and receipt.weights == [0.25, 0.75]
    last = chain.last_weights()
    assert last is not None and (last.block, last.uids, last.weights) == (7, [0, 1], [0.25, 0.75])
    with pytest.raises(ChainError, match="not registered"):
        chain.set_weights([5], [1.0])
    with pytest.raises(ChainError, match="zero"):
        chain.set_weights([0], [0.0])


def test_weights_rate_limit_says_how_long_to_wait(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "c.sqlite", block_period_s=0, weights_rate_limit=10)
    chain.register("m1")
    chain.set_weights([0], [1.0])
    chain.advance(4)
    with pytest.raises(RateLimited) as info:
        chain.set_weights([0], [1.0])
    assert info.value.blocks_remaining == 6
    chain.advance(6)
    assert chain.set_weights([0], [1.0]).block == 10
    assert len(chain.weights_history()) == 2


def test_injected_timeouts_are_retried_then_succeed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    chain = LocalChain(path, block_period_s=0, retry=RetryPolicy(attempts=3, wait_s=0))
    chain.register("m1")
    # Armed through another handle, as a test process would for a running supervisor.
    LocalChain(path, block_period_s=0).inject_fault("set_weights", "timeout", 2)
    assert chain.set_weights([0], [1.0]).uids == [0]
    assert len(chain.weights_history()) == 1

    LocalChain(path, block_period_s=0).inject_fault("set_weights", "timeout", 3)
    with pytest.raises(ChainTimeout):
        chain.set_weights([0], [1.0])
    assert len(chain.weights_history()) == 1


def test_reads_are_retried_too(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "c.sqlite", block_period_s=0, retry=RetryPolicy(attempts=2, wait_s=0))
    chain.register("m1")
    chain.commit("m1", good())
    chain.inject_fault("commitments", "timeout", 1)
    assert len(chain.commitments()) == 1
    chain.inject_fault("neurons", "timeout", 2)
    with pytest.raises(ChainTimeout, match="neurons"):
        chain.neurons()
    chain.inject_fault("current_block", "error", 1)
    with pytest.raises(ChainError, match="injected error"):
        chain.current_block()
    with pytest.raises(ChainError, match="cannot inject"):
        chain.inject_fault("register", "timeout", 1)


def test_injected_error_is_not_retried(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "c.sqlite", block_period_s=0, retry=RetryPolicy(attempts=5, wait_s=0))
    chain.register("m1")
    chain.inject_fault("set_weights", "error", 1)
    with pytest.raises(ChainError, match="injected error"):
        chain.set_weights([0], [1.0])
    assert chain.set_weights([0], [1.0]).uids == [0]


def _miner(path: str, index: int) -> None:
    chain = LocalChain(path, block_period_s=0)
    for j in range(15):
        hotkey = f"p{index}-{j}"
        chain.register(hotkey)
        chain.commit(hotkey, good(name=f"org{index}/m{j}"))


def test_several_processes_share_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    LocalChain(path, block_period_s=0)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_miner, args=(path, i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    chain = LocalChain(path, block_period_s=0)
    neurons = chain.neurons()
    assert sorted(n.uid for n in neurons) == list(range(45))
    assert len({n.hotkey for n in neurons}) == 45
    assert all(r.ok for r in chain.commitments()) and len(chain.commitments()) == 45
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_reader_that_sets_no_block_period_counts_the_blocks_of_the_chains_creator(tmp_path: Path) -> None:
    """The demo's stack runs its chain at 2 s a block; a CLI opened beside it with no block period set used to
    count 12 s blocks, so the weights the stack set lay in its future ("last weights: none")."""
    from chain.config import ChainConfig
    from chain.factory import open_local_chain

    path = tmp_path / "chain.sqlite"
    stack = LocalChain(path, block_period_s=0.05)
    stack.register("miner")
    time.sleep(0.5)  # about 10 of the stack's blocks, none of a 12 s reader's
    receipt = stack.set_weights([0], [1.0])
    unset = open_local_chain(ChainConfig(local_db=path), tmp_path)
    assert unset.block_period_s == 0.05
    assert abs(unset.current_block() - stack.current_block()) <= 1 and receipt.block >= 5
    assert unset.last_weights() is not None and unset.last_weights().block == receipt.block
    explicit = open_local_chain(ChainConfig(local_db=path, block_period_s=12.0), tmp_path)
    assert explicit.block_period_s == 12.0, "a period the reader sets is the reader's"
    fresh = open_local_chain(ChainConfig(local_db=tmp_path / "new.sqlite"), tmp_path)
    assert fresh.block_period_s == 12.0
    # A chain created before the period was recorded: the first reader does not record its own period for it.
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta WHERE key='block_period_s'")
    assert open_local_chain(ChainConfig(local_db=path, block_period_s=3.0), tmp_path).block_period_s == 3.0
    assert open_local_chain(ChainConfig(local_db=path), tmp_path).block_period_s == 12.0
