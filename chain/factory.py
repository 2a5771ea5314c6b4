"""Build the configured chain backend."""

from __future__ import annotations

from pathlib import Path

from chain.base import Chain
from chain.config import ChainConfig
from chain.local import LocalChain
from chain.retry import RetryPolicy


def local_db_path(config: ChainConfig, default_dir: Path) -> Path:
    return (config.local_db or default_dir / "chain" / "local.sqlite").expanduser()


def retry_policy(config: ChainConfig) -> RetryPolicy:
    return RetryPolicy(attempts=config.retries + 1, wait_s=config.retry_wait_s)


def open_local_chain(config: ChainConfig, default_dir: Path) -> LocalChain:
    """The local chain at its configured path. A block period that no setting names is the one the chain was
    created with, so that a CLI opened beside the demo's stack counts the same blocks as the stack."""
    return LocalChain(
        local_db_path(config, default_dir),
        chain_id=config.local_chain_id,
        block_period_s=config.block_period_s if "block_period_s" in config.model_fields_set else None,
        validator_hotkey=config.local_validator_hotkey,
        weights_rate_limit=config.local_weights_rate_limit,
        tempo=config.local_tempo,
        version_key=config.version_key,
        retry=retry_policy(config),
        commit_reveal_blocks=config.local_commit_reveal_blocks,
    )


def open_chain(config: ChainConfig, default_dir: Path) -> Chain:
    """`default_dir` is where the local chain lives when `config.local_db` is unset (the harness cache)."""
    if config.backend == "local":
        return open_local_chain(config, default_dir)
    from chain.bittensor_chain import BittensorChain  # why: the bittensor SDK is slow to import, needed only here

    return BittensorChain(config)
