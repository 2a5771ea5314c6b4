"""The `Chain` interface the supervisor talks to, and the small types it returns.

Two implementations: `LocalChain` (embedded SQLite, the default) and `BittensorChain` (the real subnet). Both
return the same plain types so the supervisor never sees SDK objects, and both raise only `ChainError` and its
subclasses for chain trouble.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from chain.commitment import Commitment, CommitmentError, parse


class ChainError(Exception):
    """A chain call failed (unreachable node, rejected extrinsic, unregistered hotkey, ...).

    `failure_class` is the stable id a caller records for it (never the class name, which a refactor changes)."""

    failure_class = "chain-error"


class ChainTimeout(ChainError):
    """A chain call ran past its deadline (after every retry)."""

    failure_class = "chain-timeout"


class WeightsRejected(ChainError):
    """The chain refused (or would refuse) our weights, for a reason the operator can act on.

    `failure_class` is a named failure (`weights/too-fast`, `weights/version-key`, ...; see
    `chain.weights_errors`), `chain_error` the chain's own error name when it gave one, and `advice` what to do;
    `str()` is one line: class, what happened, what to do."""

    def __init__(self, failure_class: str, message: str, advice: str = "", chain_error: str | None = None) -> None:
        line = f"{failure_class}: {message}" + (f"; {advice}" if advice else "")
        super().__init__(" ".join(line.split()))
        self.failure_class = failure_class
        self.advice = advice
        self.chain_error = chain_error


class RateLimited(WeightsRejected):
    """Weights were set too recently; the chain would refuse. `blocks_remaining` says how long to wait (-1:
    unknown, the chain said so without a count)."""

    def __init__(
        self,
        message: str,
        blocks_remaining: int,
        chain_error: str | None = None,
        advice: str = "nothing to do: the next round sets them again",
    ) -> None:
        super().__init__("weights/too-fast", message, advice, chain_error)
        self.blocks_remaining = blocks_remaining


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str


@dataclass(frozen=True)
class CommitmentRecord:
    """A hotkey's latest commitment; a malformed one keeps its parse error so it can be recorded, not lost."""

    uid: int | None
    hotkey: str
    block: int
    raw: str
    commitment: Commitment | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.commitment is not None

    @classmethod
    def from_raw(cls, uid: int | None, hotkey: str, block: int, raw: str) -> CommitmentRecord:
        try:
            return cls(uid, hotkey, block, raw, parse(raw))
        except CommitmentError as exc:
            return cls(uid, hotkey, block, raw, None, str(exc))


@dataclass(frozen=True)
class WeightsReceipt:
    """What a successful `set_weights` left on chain: the block it was included at and the values sent."""

    block: int
    uids: list[int]
    weights: list[float]
    version_key: int = 0
    extrinsic: str | None = None
    message: str = ""
    reveal_round: int | None = None  # set under commit-reveal: the drand round the chain reveals the commit at

    @property
    def committed(self) -> bool:
        """True when the weights went on chain as a time-locked commit (`block` is the commit's block)."""
        return self.reveal_round is not None


RevealState = Literal["set", "pending", "revealed", "dropped"]
DRAND_QUICKNET_GENESIS = 1_692_803_367  # unix time of drand quicknet round 1: the beacon the chain reveals with
DRAND_QUICKNET_PERIOD_S = 3


def drand_round_time(drand_round: int) -> float:
    """Unix time at which a quicknet round is published (a commit locked to it can reveal from then on)."""
    return DRAND_QUICKNET_GENESIS + (drand_round - 1) * DRAND_QUICKNET_PERIOD_S


def drand_round_at(unix_time: float) -> int:
    """The quicknet round published at `unix_time`."""
    return max(1, int((unix_time - DRAND_QUICKNET_GENESIS) // DRAND_QUICKNET_PERIOD_S) + 1)


@dataclass(frozen=True)
class RevealStatus:
    """What the chain says about one weights record, checked at `checked_block`.

    `set`: weights sent in the clear (in force since `commit_block`); `pending`: a time-locked commit still waiting
    for its drand round; `revealed`: the commit is gone and our `LastUpdate` moved past it (`revealed_block` is the
    block the reveal wrote, None when a later commit of ours has since overwritten `LastUpdate`); `dropped`: the
    commit is gone and nothing was applied (a reveal the chain refused, e.g. an old version key, or an expired
    commit)."""

    state: RevealState
    commit_block: int
    reveal_round: int | None
    checked_block: int
    revealed_block: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ValidatorActivity:
    """How long ago this validator's weights last reached the chain, against the subnet's activity cutoff (a
    validator whose `LastUpdate` is older than the cutoff stops counting in consensus)."""

    block: int
    last_update: int  # 0: never
    activity_cutoff: int  # blocks; 0: unknown

    @property
    def blocks_since(self) -> int:
        return max(0, self.block - self.last_update)

    @property
    def used(self) -> float | None:
        """Share of the cutoff already used (1.0: inactive from now on); None without a cutoff or a last update."""
        if self.activity_cutoff <= 0 or self.last_update <= 0:
            return None
        return self.blocks_since / self.activity_cutoff

    def warning(self, threshold: float = 0.8) -> str | None:
        """One line when the cutoff is near (`used >= threshold`) or passed, else None."""
        used = self.used
        if used is None or used < threshold:
            return None
        left = self.activity_cutoff - self.blocks_since
        state = f"{left} blocks before" if left > 0 else f"{-left} blocks past"
        return (
            f"weights last reached the chain {self.blocks_since} blocks ago (block {self.last_update}): "
            f"{used:.0%} of the activity cutoff ({self.activity_cutoff} blocks), {state} this validator stops "
            "counting in consensus"
        )


@dataclass(frozen=True)
class LastWeights:
    """The weights this validator last set, as the chain reports them (normalised to sum 1)."""

    block: int
    uids: list[int]
    weights: list[float] = field(default_factory=list)


@runtime_checkable
class Chain(Protocol):
    """Everything the supervisor needs from a chain."""

    def neurons(self) -> list[Neuron]: ...

    def commitments(self, at_block: int | None = None) -> list[CommitmentRecord]:
        """Each hotkey's latest commitment as of `at_block` (included; None: the head)."""
        ...

    def current_block(self) -> int: ...

    def tempo(self) -> int:
        """Blocks per epoch of the subnet: rounds seed their tasks from the block that opens an epoch."""
        ...

    def block_hash(self, block: int) -> str: ...

    def set_weights(self, uids: list[int], weights: list[float]) -> WeightsReceipt: ...

    def last_weights(self) -> LastWeights | None: ...

    def reveal_status(self, commit_block: int, reveal_round: int | None) -> RevealStatus:
        """Whether the weights recorded at `commit_block` (a commit when `reveal_round` is set) are in force."""
        ...

    def pending_commits(self) -> list[tuple[int, int]]:
        """Our weight commits still waiting for their reveal: (commit block, drand reveal round), oldest first."""
        ...

    def validator_activity(self) -> ValidatorActivity:
        """Blocks since our weights last reached the chain, and the subnet's activity cutoff."""
        ...

    def close(self) -> None: ...


def epoch_start(block: int, tempo: int) -> int:
    """The block that opens the epoch `block` is in: `block - block % tempo`."""
    if tempo < 1:
        raise ChainError(f"tempo must be at least 1 block, not {tempo}")
    return block - block % tempo


def check_weights(uids: list[int], weights: list[float]) -> None:
    """Reject inputs every chain would refuse, before anything is sent."""
    if len(uids) != len(weights):
        raise ChainError(f"uids and weights differ in length ({len(uids)} vs {len(weights)})")
    if len(set(uids)) != len(uids):
        raise ChainError("duplicate uid in weights")
    if any(u < 0 or u > 65535 for u in uids):
        raise ChainError("uids must be in 0..65535")
    if any(not (w >= 0.0) or w == float("inf") for w in weights):
        raise ChainError("weights must be finite and non-negative")
    if not weights or sum(weights) <= 0:
        raise ChainError("all weights are zero; nothing to set")
