"""The `Chain` interface the supervisor talks to, and the small types it returns.

Two implementations: `LocalChain` (embedded SQLite, the default) and `BittensorChain` (the real subnet). Both
return the same plain types so the supervisor never sees SDK objects, and both raise only `ChainError` and its
subclasses for chain trouble.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chain.commitment import Commitment, CommitmentError, parse


class ChainError(Exception):
    """A chain call failed (unreachable node, rejected extrinsic, unregistered hotkey, ...).

    `failure_class` is the stable id a caller records for it (never the class name, which a refactor changes)."""

    failure_class = "chain-error"


class ChainTimeout(ChainError):
    """A chain call ran past its deadline (after every retry)."""

    failure_class = "chain-timeout"


class RateLimited(ChainError):
    """Weights were set too recently; the chain would refuse. `blocks_remaining` says how long to wait."""

    failure_class = "rate-limited"

    def __init__(self, message: str, blocks_remaining: int) -> None:
        super().__init__(message)
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
