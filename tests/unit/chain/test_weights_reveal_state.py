"""A round's weights under commit-reveal, as the state database, `/status` and `harness status` show them.

Real SQLite state, the real local chain in commit-reveal mode, and the real SDK above the subnet node: a round
records its commit with the drand round; `watch_weights` (what the supervisor runs between rounds) asks the
chain and stores pending -> revealed (or dropped), and the status payload words it in one line.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from chain.base import drand_round_time
from chain.bittensor_chain import BittensorChain
from chain.config import ChainConfig
from chain.local import LocalChain
from harness.state.reveals import status_lines, watch_weights
from harness.state.store import Store
from harness.views.tables import render_status
from tests.support.bittensor_node import NETUID, SealedPayloads, SubnetNode


def _record(store: Store, chain, uids: list[int], weights: list[float]) -> int:
    """What the supervisor does at a round's end: set weights, record the receipt."""
    rnd = store.begin_round(0, "0x00")
    receipt = chain.set_weights(uids, weights)
    store.record_weights(
        rnd.id, uids, weights, block=receipt.block, receipt={"mode": "scores"}, reveal_round=receipt.reveal_round
    )
    store.finish_round(rnd.id)
    return rnd.id


def _render(store: Store) -> str:
    out = io.StringIO()
    from harness.views.status import status_payload

    render_status(Console(file=out, width=200), status_payload(store))
    return out.getvalue()


def test_local_commit_pending_then_revealed_in_status(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, commit_reveal_blocks=4, activity_cutoff=100)
    chain.register("validator")
    chain.register("m1")
    chain.advance(10)
    with Store(tmp_path / "state.sqlite") as store:
        round_id = _record(store, chain, [1], [1.0])
        weights = store.read.status()["last_weights"]
        reveal = weights["reveal"]
        assert (reveal["state"], reveal["commit_block"]) == ("pending", 10)
        assert reveal["reveal_round"] == weights["reveal_round"] and reveal["reveal_round"] > 0
        assert reveal["reveals_at"] == drand_round_time(reveal["reveal_round"])
        assert f"reveals at drand round {reveal['reveal_round']} (about " in reveal["line"]
        assert f"weights: committed at block 10, reveals at drand round {reveal['reveal_round']}" in _render(store)

        assert watch_weights(store, chain) == []
        still = store.read.weights_for(round_id)["reveal"]
        assert still["state"] == "pending" and still["checked_block"] == 10, "checked, and still pending"

        chain.advance(4)
        watch_weights(store, chain)
        revealed = store.read.weights_for(round_id)["reveal"]
        assert (revealed["state"], revealed["revealed_block"], revealed["checked_block"]) == ("revealed", 14, 14)
        assert revealed["line"].startswith("revealed at block 14 (committed at block 10")
        assert "weights: revealed at block 14" in _render(store)
        assert store.read.unsettled_weights() == [], "a revealed commit is not asked about again"
        activity = store.read.status()["validator_activity"]
        assert (activity["last_update"], activity["blocks_since"], activity["warning"]) == (14, 0, None)


def test_weights_in_the_clear_say_nothing_more(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0)
    chain.register("m1")
    with Store(tmp_path / "state.sqlite") as store:
        _record(store, chain, [0], [1.0])
        weights = store.read.status()["last_weights"]
        assert weights["reveal"]["state"] == "set" and weights["reveal_round"] is None
        assert status_lines(weights) == []
        assert store.read.unsettled_weights() == []


def test_activity_cutoff_warning_reaches_status(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, activity_cutoff=50)
    chain.register("m1")
    chain.advance(1)  # LastUpdate 0 means "never set" on chain
    with Store(tmp_path / "state.sqlite") as store:
        _record(store, chain, [0], [1.0])
        chain.advance(39)
        assert watch_weights(store, chain) == []
        chain.advance(1)
        (warning,) = watch_weights(store, chain)
        assert "80% of the activity cutoff (50 blocks)" in warning
        assert store.read.status()["validator_activity"]["warning"] == warning
        assert f"warning: {warning}" in _render(store)


def test_subnet_commit_is_checked_against_the_chain(tmp_path: Path, wallet, monkeypatch) -> None:
    node = SubnetNode(["miner-a", wallet.hotkey.ss58_address], commit_reveal=True, sealed=SealedPayloads(monkeypatch))
    config = ChainConfig(
        backend="bittensor", netuid=NETUID, version_key=3, retries=0, retry_wait_s=0, call_timeout_s=5.0
    )
    chain = BittensorChain(config, wallet=wallet, substrate_factory=lambda: node)
    try:
        with Store(tmp_path / "state.sqlite") as store:
            round_id = _record(store, chain, [0], [1.0])
            reveal_round = store.read.weights_for(round_id)["reveal_round"]
            assert reveal_round == node.submitted[0]["reveal_round"]
            watch_weights(store, chain)
            assert store.read.weights_for(round_id)["reveal"]["state"] == "pending"
            node.advance(3)
            node.drand_round = reveal_round
            node.reveal_due()
            watch_weights(store, chain)
            reveal = store.read.weights_for(round_id)["reveal"]
            assert (reveal["state"], reveal["revealed_block"]) == ("revealed", 1004)
            assert reveal["line"].startswith("revealed at block 1004")
    finally:
        chain.close()


def test_a_dropped_commit_is_warned_about(tmp_path: Path, wallet, monkeypatch) -> None:
    node = SubnetNode(["miner-a", wallet.hotkey.ss58_address], commit_reveal=True, sealed=SealedPayloads(monkeypatch))
    config = ChainConfig(backend="bittensor", netuid=NETUID, version_key=3, retries=0, retry_wait_s=0)
    chain = BittensorChain(config, wallet=wallet, substrate_factory=lambda: node)
    try:
        with Store(tmp_path / "state.sqlite") as store:
            round_id = _record(store, chain, [0], [1.0])
            node.version_key = 5
            node.reveal_due(force=True)
            (warning,) = watch_weights(store, chain)
            assert f"round {round_id}'s weights were dropped by the chain" in warning
            reveal = store.read.weights_for(round_id)["reveal"]
            assert reveal["state"] == "dropped" and reveal["line"].startswith("dropped by the chain: ")
    finally:
        chain.close()


def test_chain_trouble_never_stops_the_loop(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, commit_reveal_blocks=4)
    chain.register("validator")
    with Store(tmp_path / "state.sqlite") as store:
        round_id = _record(store, chain, [0], [1.0])

        class Down:
            def reveal_status(self, *_a: object) -> None:
                from chain.base import ChainError

                raise ChainError("node unreachable")

        assert watch_weights(store, Down()) == []  # type: ignore[arg-type]
        assert store.read.weights_for(round_id)["reveal"]["state"] == "pending"
