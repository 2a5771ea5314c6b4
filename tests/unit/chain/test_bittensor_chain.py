"""`BittensorChain` against the real bittensor SDK with only its chain-access backend replaced.

Two seams, both the SDK's own: its `Substrate` protocol (`tests/support/bittensor_node.py` answers with decoded chain
values, so the SDK's reads, metagraph decoding and SetWeights intent run for real), and, one layer further down,
the websocket dial of `RpcSubstrate` (`connect_factory`), where a node that accepts and never answers shows the
deadline and retry behaviour through the SDK's real JSON-RPC session.

Why not answer every request at the websocket: the SDK's transport decodes everything against the runtime
metadata it fetches from the node (`state_getMetadata`, SCALE, megabytes, specific to a subtensor runtime), which
cannot be obtained or faithfully built offline. The `Substrate` protocol is the SDK's own declared test seam
(`Client(substrate=...)`), one step above that decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import bittensor as bt
import pytest
from bittensor._substrate import RpcSubstrate
from bittensor._transport import SubstrateConnection

from chain.base import Chain, ChainError, ChainTimeout, RateLimited
from chain.bittensor_chain import BittensorChain
from chain.config import ChainConfig
from tests.support.bittensor_node import SubnetNode, node_config

REV = "c" * 40
HASH = "d" * 64


def _config(**overrides: object) -> ChainConfig:
    return node_config(**overrides)


@pytest.fixture
def node(wallet: bt.Wallet) -> SubnetNode:
    return SubnetNode(["miner-a", wallet.hotkey.ss58_address, "miner-b", "miner-c"])


@pytest.fixture
def chain(node: SubnetNode, wallet: bt.Wallet):
    c = BittensorChain(_config(), wallet=wallet, substrate_factory=lambda: node)
    yield c
    c.close()


def test_is_a_chain(chain: BittensorChain) -> None:
    assert isinstance(chain, Chain)


def test_reads_blocks_neurons_and_hashes(chain: BittensorChain, node: SubnetNode, wallet: bt.Wallet) -> None:
    assert chain.current_block() == 1000
    assert [(n.uid, n.hotkey) for n in chain.neurons()][:2] == [(0, "miner-a"), (1, wallet.hotkey.ss58_address)]
    assert chain.block_hash(990) == node._hash(990)
    with pytest.raises(ChainError, match="unknown"):
        chain.block_hash(5000)


def test_commitments_are_decoded_by_the_sdk_and_parsed(chain: BittensorChain, node: SubnetNode) -> None:
    node.commit("miner-a", f"acme/good:{REV}:{HASH}", block=900)
    node.commit("miner-b", "free money!", block=950)
    node.commit_sealed("miner-c", reveal_round=10**9)
    node.commit("gone-hotkey", f"acme/old:{REV}:{HASH}", block=10)  # deregistered: no uid, skipped
    records = {r.hotkey: r for r in chain.commitments()}
    assert set(records) == {"miner-a", "miner-b", "miner-c"}
    good = records["miner-a"]
    assert (good.uid, good.block, good.ok) == (0, 900, True)
    assert good.commitment.model_ref == f"hf://acme/good@{REV}"
    assert records["miner-b"].raw == "free money!" and "':'-separated parts" in records["miner-b"].error
    assert not records["miner-c"].ok and "sealed" in records["miner-c"].error


def test_set_weights_runs_the_sdk_intent_and_reads_back(chain: BittensorChain, node: SubnetNode, wallet) -> None:
    receipt = chain.set_weights([0, 2], [0.75, 0.25])
    (sent,) = node.submitted
    # The SDK's SetWeights max-upscaled and u16-quantised the weights and carried our version key.
    assert sent["function"] == "set_mechanism_weights" and sent["signer"] == wallet.hotkey.ss58_address
    assert (sent["dests"], sent["weights"], sent["version_key"]) == ([0, 2], [65535, 21845], 3)
    assert receipt.block == 1001 and receipt.extrinsic == "1001-2"
    last = chain.last_weights()
    assert last.block == 1001 and last.uids == [0, 2]
    assert last.weights == pytest.approx([0.75, 0.25], abs=1e-4)


def test_rate_limit_is_checked_before_submitting_and_says_why(chain: BittensorChain, node: SubnetNode) -> None:
    chain.set_weights([0], [1.0])
    node.block += 40
    allowed, remaining, why = chain.weights_rate_limit_status()
    assert (allowed, remaining) == (False, 60) and "wait 60 more" in why
    with pytest.raises(RateLimited) as info:
        chain.set_weights([0], [1.0])
    assert info.value.blocks_remaining == 60
    assert len(node.submitted) == 1, "nothing may be submitted while rate limited"
    node.block += 60
    assert chain.set_weights([0], [1.0]).block == node.block


def test_chain_side_rejection_is_not_retried(chain: BittensorChain, node: SubnetNode) -> None:
    node.fail_next = "NeuronNoValidatorPermit"
    with pytest.raises(ChainError, match="weights/no-permit") as info:
        chain.set_weights([0], [1.0])
    assert info.value.failure_class == "weights/no-permit"
    assert len(node.submitted) == 1


def test_a_lower_version_key_is_refused_before_signing(node: SubnetNode, wallet: bt.Wallet) -> None:
    chain = BittensorChain(_config(version_key=1), wallet=wallet, substrate_factory=lambda: node)
    try:
        with pytest.raises(ChainError) as info:
            chain.set_weights([0], [1.0])
        assert info.value.failure_class == "weights/version-key"
        assert "\n" not in str(info.value) and "WeightsVersionKey 3" in str(info.value)
        assert "chain.version_key=3" in str(info.value)
        assert node.submitted == [], "a refused key must not reach the chain"
    finally:
        chain.close()


def test_unregistered_validator_is_told_so(node: SubnetNode, tmp_path: Path) -> None:
    other = bt.Wallet("x", "y", path=str(tmp_path))
    other.create_new_coldkey(use_password=False, suppress=True)
    other.create_new_hotkey(suppress=True)
    chain = BittensorChain(_config(), wallet=other, substrate_factory=lambda: node)
    try:
        with pytest.raises(ChainError, match="not registered"):
            chain.set_weights([0], [1.0])
        assert chain.last_weights() is None
    finally:
        chain.close()


def test_a_missing_wallet_is_a_chain_error(node: SubnetNode, tmp_path: Path) -> None:
    chain = BittensorChain(_config(wallet_path=str(tmp_path), wallet_name="absent"), substrate_factory=lambda: node)
    try:
        with pytest.raises(ChainError, match="validator hotkey unavailable"):
            chain.set_weights([0], [1.0])
        with pytest.raises(ChainError, match="validator hotkey unavailable"):
            chain.last_weights()
        assert node.submitted == []
    finally:
        chain.close()


def test_a_stalled_submit_times_out_and_the_retry_lands(chain: BittensorChain, node: SubnetNode) -> None:
    chain.config.set_weights_timeout_s = 0.5
    node.stall["submit"] = 1
    receipt = chain.set_weights([0, 3], [1.0, 1.0])
    assert node.calls["submit"] == 2 and len(node.weights) == 1
    assert receipt.uids == [0, 3]
    assert node.calls["connect"] == 2, "a timed-out connection is dropped and a fresh one opened"


def test_a_lost_reply_is_not_submitted_twice(chain: BittensorChain, node: SubnetNode) -> None:
    chain.config.set_weights_timeout_s = 0.5
    node.lose_reply["submit"] = 1
    with pytest.raises(RateLimited, match="earlier attempt"):
        chain.set_weights([0], [1.0])
    assert node.calls["submit"] == 1 and node.last_update[1] == 1001


def test_reads_give_up_after_the_retries_with_a_timeout(chain: BittensorChain, node: SubnetNode) -> None:
    chain.config.call_timeout_s = 0.4
    node.stall["block_number"] = 3
    with pytest.raises(ChainTimeout, match=r"no answer within 0.4s"):
        chain.current_block()
    assert node.calls["block_number"] == 3  # retries=2: three attempts
    assert chain.current_block() == 1000  # the node recovered; so does the adapter


class _SilentSocket:
    """A websocket to a node that accepts requests and never answers."""

    def __init__(self, sent: list[dict]) -> None:
        self.sent = sent

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))

    async def recv(self) -> str:
        import asyncio

        await asyncio.sleep(3600)
        return ""

    async def close(self) -> None:
        pass


def test_deadline_and_retries_through_the_real_rpc_session(wallet: bt.Wallet) -> None:
    dials: list[str] = []
    sent: list[dict] = []

    async def dial(url: str) -> _SilentSocket:
        dials.append(url)
        return _SilentSocket(sent)

    class DialledRpcSubstrate(RpcSubstrate):
        def _interface(self, endpoint: str, fallbacks: list[str]) -> SubstrateConnection:
            return SubstrateConnection(endpoint, connect_factory=dial, max_retries=1)

    chain = BittensorChain(
        _config(call_timeout_s=0.4, retries=2),
        wallet=wallet,
        substrate_factory=lambda: DialledRpcSubstrate("ws://127.0.0.1:9"),
    )
    try:
        with pytest.raises(ChainTimeout):
            chain.current_block()
    finally:
        chain.close()
    assert dials == ["ws://127.0.0.1:9"] * 3, "each attempt reconnects"
    assert sent and all(frame.get("jsonrpc") == "2.0" for frame in sent), "the SDK's own JSON-RPC frames went out"


def test_refused_connections_are_retried_then_reported(wallet: bt.Wallet) -> None:
    dials: list[str] = []

    async def refuse(url: str):
        dials.append(url)
        raise ConnectionRefusedError(111, "Connection refused")

    class RefusedRpcSubstrate(RpcSubstrate):
        def _interface(self, endpoint: str, fallbacks: list[str]) -> SubstrateConnection:
            return SubstrateConnection(endpoint, connect_factory=refuse, max_retries=1)

    chain = BittensorChain(
        _config(retries=1), wallet=wallet, substrate_factory=lambda: RefusedRpcSubstrate("ws://127.0.0.1:9")
    )
    try:
        with pytest.raises(ChainError, match="current block"):
            chain.current_block()
    finally:
        chain.close()
    assert len(dials) >= 2


def test_chain_show_snapshot_works_on_the_bittensor_backend(chain: BittensorChain, node: SubnetNode) -> None:
    from harness.cli.commands.chain_cmd import chain_snapshot

    node.commit("miner-a", f"acme/good:{REV}:{HASH}", block=900)
    chain.set_weights([0], [1.0])
    snap = chain_snapshot(chain)
    assert snap["block"] == 1001 and snap["block_hash"] == node._hash(1001)
    assert snap["commitments"][0]["model"] == f"hf://acme/good@{REV}"
    assert snap["last_weights"] == {"block": 1001, "uids": [0], "weights": [1.0]}


def test_tempo_and_commitments_as_of_a_block(chain: BittensorChain, node: SubnetNode) -> None:
    node.tempo = 99
    assert chain.tempo() == 99
    node.commit("miner-a", f"acme/first:{REV}:{HASH}", block=900)
    node.commit("miner-a", f"acme/second:{REV}:{HASH}", block=995)
    assert {r.hotkey: r.raw for r in chain.commitments(at_block=950)} == {"miner-a": f"acme/first:{REV}:{HASH}"}
    assert chain.commitments(at_block=800) == []
    assert [r.commitment.repo_id for r in chain.commitments()] == ["acme/second"]


def test_a_miner_commits_through_the_sdk_and_reads_it_back(chain: BittensorChain, node: SubnetNode, wallet) -> None:
    line = f"acme/mine:{REV}:{HASH}"
    block = chain.commit(line)
    (sent,) = node.submitted
    assert sent["function"] == "set_commitment" and sent["signer"] == wallet.hotkey.ss58_address
    mine = {r.hotkey: r for r in chain.commitments()}[wallet.hotkey.ss58_address]
    assert (mine.raw, mine.block) == (line, block)
    with pytest.raises(ChainError, match="at most"):
        chain.commit("x" * 200)
