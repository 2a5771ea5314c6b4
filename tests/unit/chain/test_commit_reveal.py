"""Weights under commit-reveal, version keys, named chain errors and the activity cutoff, on both backends.

`BittensorChain` runs against the real bittensor SDK with only its `Substrate` backend replaced by the small
subnet node (`tests/support/bittensor_node.py`): the SDK's SetWeights picks the time-locked commit path from
the subnet's `CommitRevealWeightsEnabled`, encrypts the weights to a drand round with `bittensor_core`, and the
node keeps the commit in `TimelockedWeightCommits` until its reveal.
"""

from __future__ import annotations

import time
from pathlib import Path

import bittensor as bt
import pytest

from chain.base import ChainError, RateLimited, ValidatorActivity, WeightsRejected
from chain.bittensor_chain import BittensorChain
from chain.config import ChainConfig
from chain.local import LocalChain
from chain.weights_errors import REJECTED, WEIGHTS_ERRORS, weights_failure
from harness.cli.commands.chain_cmd import chain_snapshot
from tests.support.bittensor_node import SealedPayloads, SubnetNode, node_config


def _config(**overrides: object) -> ChainConfig:
    return node_config(**({"call_timeout_s": 5.0, "set_weights_timeout_s": 5.0, "retries": 0} | overrides))


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch) -> SealedPayloads:
    return SealedPayloads(monkeypatch)


@pytest.fixture
def node(wallet: bt.Wallet, sealed: SealedPayloads) -> SubnetNode:
    return SubnetNode(
        ["miner-a", wallet.hotkey.ss58_address, "miner-b"], commit_reveal=True, sealed=sealed, rate_limit=10
    )


@pytest.fixture
def chain(node: SubnetNode, wallet: bt.Wallet):
    c = BittensorChain(_config(), wallet=wallet, substrate_factory=lambda: node)
    yield c
    c.close()


def test_weights_are_committed_pending_then_revealed(chain: BittensorChain, node: SubnetNode, wallet) -> None:
    receipt = chain.set_weights([0, 2], [0.75, 0.25])
    (sent,) = node.submitted
    assert sent["function"] == "commit_timelocked_mechanism_weights", "the SDK chose the commit path"
    assert receipt.committed and receipt.reveal_round == sent["reveal_round"]
    assert receipt.reveal_round > 0 and receipt.block == 1001
    # A round a few minutes ahead of now, as the SDK computed it from the subnet's epoch schedule.
    reveal_at = 1_692_803_367 + (receipt.reveal_round - 1) * 3
    assert time.time() < reveal_at < time.time() + 7 * 24 * 3600

    pending = chain.reveal_status(receipt.block, receipt.reveal_round)
    assert (pending.state, pending.revealed_block) == ("pending", None)
    assert chain.pending_commits() == [(receipt.block, receipt.reveal_round)]
    assert chain.last_weights() is None, "nothing is in force before the reveal"

    node.advance(5)
    assert chain.reveal_status(receipt.block, receipt.reveal_round).state == "pending"
    node.drand_round = receipt.reveal_round  # the chain stores the pulse: the commit reveals at this block
    node.reveal_due()
    revealed = chain.reveal_status(receipt.block, receipt.reveal_round)
    assert (revealed.state, revealed.revealed_block) == ("revealed", 1006)
    assert chain.pending_commits() == []
    last = chain.last_weights()
    assert last.block == 1006 and last.uids == [0, 2]
    assert last.weights == pytest.approx([0.75, 0.25], abs=1e-4)


def test_chain_show_reads_pending_commits_through_the_sdk(chain: BittensorChain, node: SubnetNode) -> None:
    """`harness chain show` on a commit-reveal subnet: the commit is listed until the chain reveals it."""
    receipt = chain.set_weights([0, 2], [0.75, 0.25])
    shown = chain_snapshot(chain)["validator"]
    assert shown["pending_commits"] == [{"commit_block": receipt.block, "reveal_round": receipt.reveal_round}]
    assert shown["last_update"] == receipt.block, "a commit writes LastUpdate"
    node.drand_round = receipt.reveal_round
    node.reveal_due()
    assert chain_snapshot(chain)["validator"]["pending_commits"] == []


def test_a_commit_reveals_when_its_scheduled_block_passes(chain: BittensorChain, node: SubnetNode) -> None:
    node.reveal_after_blocks = 20
    receipt = chain.set_weights([0], [1.0])
    node.advance(19)
    assert chain.reveal_status(receipt.block, receipt.reveal_round).state == "pending"
    node.advance(1)
    status = chain.reveal_status(receipt.block, receipt.reveal_round)
    assert (status.state, status.revealed_block) == ("revealed", receipt.block + 20)


def test_a_commit_the_chain_cannot_apply_is_reported_dropped(chain: BittensorChain, node: SubnetNode) -> None:
    receipt = chain.set_weights([0], [1.0])
    node.version_key = 4  # the owner raised the key after our commit: the reveal is refused, silently
    node.reveal_due(force=True)
    status = chain.reveal_status(receipt.block, receipt.reveal_round)
    assert status.state == "dropped" and "version key" in status.detail
    assert chain.last_weights() is None


def test_a_later_commit_does_not_hide_an_earlier_reveal(chain: BittensorChain, node: SubnetNode) -> None:
    first = chain.set_weights([0], [1.0])
    node.advance(11)
    node.reveal_due(force=True)
    node.advance(11)
    second = chain.set_weights([2], [1.0])
    status = chain.reveal_status(first.block, first.reveal_round)
    assert status.state == "revealed" and status.revealed_block is None  # LastUpdate now is the second commit's
    assert status.detail == f"revealed by block {second.block}"
    assert chain.reveal_status(second.block, second.reveal_round).state == "pending"


def test_too_many_unrevealed_commits_is_a_named_failure(chain: BittensorChain, node: SubnetNode) -> None:
    node.max_unrevealed = 2
    for _ in range(2):
        chain.set_weights([0], [1.0])
        node.advance(10)
    with pytest.raises(WeightsRejected) as info:
        chain.set_weights([0], [1.0])
    assert info.value.failure_class == "weights/too-many-commits"
    assert info.value.chain_error == "TooManyUnrevealedCommits" and "harness status" in str(info.value)
    assert len(node.pending(chain.hotkey)) == 2


def test_commits_are_rate_limited_by_blocks(chain: BittensorChain, node: SubnetNode) -> None:
    chain.set_weights([0], [1.0])
    with pytest.raises(RateLimited) as info:
        chain.set_weights([0], [1.0])
    assert info.value.failure_class == "weights/too-fast" and info.value.blocks_remaining == 10
    assert len(node.submitted) == 1


def test_too_few_weights_is_named_from_the_sdk_preflight(chain: BittensorChain, node: SubnetNode) -> None:
    node.min_allowed_weights = 3
    with pytest.raises(WeightsRejected) as info:
        chain.set_weights([0, 2], [1.0, 1.0])
    assert info.value.failure_class == "weights/too-few"
    assert node.submitted == []


@pytest.mark.parametrize(
    ("name", "failure_class"),
    [
        ("SettingWeightsTooFast", "weights/too-fast"),
        ("CommittingWeightsTooFast", "weights/too-fast"),
        ("TooManyUnrevealedCommits", "weights/too-many-commits"),
        ("IncorrectWeightVersionKey", "weights/version-key"),
        ("WeightVecLengthIsLow", "weights/too-few"),
        ("CommitRevealEnabled", "weights/commit-reveal-on"),
        ("CommitRevealDisabled", "weights/commit-reveal-off"),
        ("NeuronNoValidatorPermit", "weights/no-permit"),
        ("NotEnoughStakeToSetWeights", "weights/stake-too-low"),
        ("InvalidRevealRound", "weights/reveal-round"),
        ("MechanismDoesNotExist", "weights/mechanism"),
        ("SomethingNew", REJECTED),
    ],
)
def test_each_chain_error_through_the_sdk_is_a_named_failure(
    chain: BittensorChain, node: SubnetNode, name: str, failure_class: str
) -> None:
    node.fail_next = name
    with pytest.raises(WeightsRejected) as info:
        chain.set_weights([0], [1.0])
    error = info.value
    assert (error.failure_class, error.chain_error) == (failure_class, name)
    assert "\n" not in str(error) and str(error).startswith(failure_class + ":")
    assert error.advice, "every named failure says what to do"
    assert len(node.submitted) == 1, "a refusal is not retried"


def test_every_mapped_error_has_a_class_and_advice() -> None:
    for name, (failure_class, advice) in WEIGHTS_ERRORS.items():
        error = weights_failure(f"{name} happened", name, "unknown")
        assert error.failure_class == failure_class and failure_class.startswith("weights/")
        assert advice and advice in str(error)
    assert weights_failure("Retry in ~5 blocks", None, "rate_limited").failure_class == "weights/too-fast"
    assert weights_failure("Hotkey x is not registered", None, "not_registered").failure_class == (
        "weights/not-registered"
    )


def test_a_plain_subnet_refuses_a_plain_set_while_commit_reveal_is_on(node: SubnetNode, wallet) -> None:
    # The SDK reads the flag, so a plain set only meets CommitRevealEnabled when the flag flips mid-call.
    node.commit_reveal = False
    chain = BittensorChain(_config(), wallet=wallet, substrate_factory=lambda: node)
    try:
        receipt = chain.set_weights([0], [1.0])
        assert not receipt.committed and node.submitted[-1]["function"] == "set_mechanism_weights"
        assert chain.reveal_status(receipt.block, None).state == "set"
    finally:
        chain.close()


def test_mechid_addresses_the_mechanism_storage(node: SubnetNode, wallet) -> None:
    node.mechid = 1
    node.commit_reveal = False
    chain = BittensorChain(_config(mechid=1), wallet=wallet, substrate_factory=lambda: node)
    try:
        chain.set_weights([0], [1.0])
        assert node.submitted[-1]["mecid"] == 1
        assert chain.last_weights().uids == [0]  # read back from index 1 * 4096 + netuid
        assert chain.validator_activity().last_update == node.block
    finally:
        chain.close()
    wrong = BittensorChain(_config(mechid=2), wallet=wallet, substrate_factory=lambda: node)
    try:
        with pytest.raises(WeightsRejected) as info:
            wrong.set_weights([0], [1.0])
        assert info.value.failure_class == "weights/mechanism"
    finally:
        wrong.close()


def test_activity_cutoff_warning(chain: BittensorChain, node: SubnetNode) -> None:
    node.activity_cutoff = 100
    chain.set_weights([0], [1.0])
    node.advance(79)
    activity = chain.validator_activity()
    assert (activity.blocks_since, activity.activity_cutoff) == (79, 100) and activity.warning() is None
    node.advance(1)
    line = chain.validator_activity().warning()
    assert line is not None and "80% of the activity cutoff (100 blocks)" in line and "20 blocks before" in line
    assert ValidatorActivity(500, 0, 100).warning() is None, "never set: nothing to warn about yet"


def test_local_chain_commit_reveal_mode(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "c.sqlite", block_period_s=0, commit_reveal_blocks=5, activity_cutoff=10)
    chain.register("validator")
    chain.register("m1")
    receipt = chain.set_weights([1], [1.0])
    assert receipt.committed and receipt.reveal_round > 0
    assert chain.reveal_status(receipt.block, receipt.reveal_round).state == "pending"
    assert chain.last_weights() is None
    chain.advance(5)
    status = chain.reveal_status(receipt.block, receipt.reveal_round)
    assert (status.state, status.revealed_block) == ("revealed", 5)
    assert chain.last_weights().block == 5
    chain.advance(3)
    assert chain.validator_activity().blocks_since == 3
    chain.advance(8)
    assert "1 blocks past" in chain.validator_activity().warning()


def test_local_chain_plain_weights_are_set_at_once(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "c.sqlite", block_period_s=0)
    chain.register("m1")
    receipt = chain.set_weights([0], [1.0])
    assert not receipt.committed
    assert chain.reveal_status(receipt.block, None).state == "set"
    assert chain.reveal_status(receipt.block + 7, 123).state == "dropped"


def test_chain_error_base_class_is_kept(chain: BittensorChain, node: SubnetNode) -> None:
    node.fail_next = "SettingWeightsTooFast"
    with pytest.raises(ChainError):  # the supervisor catches ChainError: every named failure is one
        chain.set_weights([0], [1.0])
