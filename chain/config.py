"""The `chain` settings section (owned here so that `chain/` never imports `harness`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class ChainConfig(BaseModel):
    """Which chain to read commitments from and set weights on, and how patiently."""

    backend: Literal["local", "bittensor"] = Field(
        default="local", description="`local`: the embedded SQLite chain; `bittensor`: a real subnet."
    )
    local_db: Path | None = Field(
        default=None, description="Local chain database; unset means <cache_dir>/chain/local.sqlite."
    )
    local_chain_id: str = Field(default="harness-local", description="Local chain id (seeds its block hashes).")
    block_period_s: float = Field(
        default=12.0,
        ge=0,
        description="Local chain: seconds per block; 0 means blocks advance only explicitly. Unset: the period the "
        "chain was created with (12 for a new one).",
    )
    local_validator_hotkey: str = Field(default="validator", description="Local chain: hotkey that sets weights.")
    local_tempo: int = Field(
        default=1,
        ge=1,
        description="Local chain: blocks per epoch. A round seeds its tasks from the block opening its epoch.",
    )
    local_weights_rate_limit: int = Field(
        default=0, ge=0, description="Local chain: blocks between two set_weights (0 = no limit)."
    )
    local_commit_reveal_blocks: int = Field(
        default=0,
        ge=0,
        description="Local chain: weights are committed and revealed this many blocks later (0: set in the clear).",
    )
    netuid: int = Field(default=20, ge=0, description="Subnet id (bittensor backend).")
    network: str = Field(
        default="finney", description="Bittensor network name (finney, test, local) or a ws:// / wss:// endpoint."
    )
    wallet_name: str = Field(default="default", description="Bittensor wallet (coldkey) name.")
    wallet_hotkey: str = Field(default="default", description="Bittensor hotkey name used to set weights.")
    wallet_path: str = Field(default="~/.bittensor/wallets", description="Directory holding bittensor wallets.")
    version_key: int = Field(
        default=0,
        ge=0,
        description="Our weights version key; weights are refused (weights/version-key) while it is below the "
        "subnet's WeightsVersionKey.",
    )
    mechid: int = Field(
        default=0, ge=0, le=255, description="Mechanism of the subnet the weights are for (0: the main one)."
    )
    call_timeout_s: float = Field(default=30.0, gt=0, description="Deadline of one chain read.")
    set_weights_timeout_s: float = Field(
        default=120.0, gt=0, description="Deadline of one set_weights (inclusion included)."
    )
    retries: int = Field(default=3, ge=0, description="Extra attempts on timeouts and connection errors.")
    retry_wait_s: float = Field(default=2.0, ge=0, description="First pause between attempts (doubles, max 30 s).")
    wait_for_inclusion: bool = Field(default=True, description="Wait until set_weights is in a block.")
    wait_for_finalization: bool = Field(default=False, description="Also wait for finalization.")
