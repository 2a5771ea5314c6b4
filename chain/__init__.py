"""The chain interface, its embedded local implementation, the bittensor adapter, commitments.

`chain.bittensor_chain` is imported on demand only (the SDK is slow to import and needed only there).
"""

from chain.base import (
    Chain,
    ChainError,
    ChainTimeout,
    CommitmentRecord,
    LastWeights,
    Neuron,
    RateLimited,
    RevealStatus,
    ValidatorActivity,
    WeightsReceipt,
    WeightsRejected,
)
from chain.commitment import Commitment, CommitmentError
from chain.factory import open_chain
from chain.local import LocalChain

__all__ = [
    "Chain",
    "ChainError",
    "ChainTimeout",
    "Commitment",
    "CommitmentError",
    "CommitmentRecord",
    "LastWeights",
    "LocalChain",
    "Neuron",
    "RateLimited",
    "RevealStatus",
    "ValidatorActivity",
    "WeightsReceipt",
    "WeightsRejected",
    "open_chain",
]
