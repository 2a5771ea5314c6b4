"""Checks `harness run` makes before its first round, so a misconfigured validator stops with one line.

Why: a supervisor that starts with a misspelt network, an endpoint nobody answers on, or a wallet that is not
there would log `round skipped: chain unavailable` every round and run on for days, setting no weights while
looking alive to systemd. These are configuration mistakes, not transient faults: the service exits 2 at
start, naming the setting to fix, within `PREFLIGHT_DEADLINE_S`.
"""

from __future__ import annotations

from pathlib import Path

from chain.base import Chain, ChainError
from chain.config import ChainConfig
from chain.factory import open_chain
from harness.errors import HarnessError
from harness.fingerprint import check_release

PREFLIGHT_DEADLINE_S = 8.0


class PreflightFailed(HarnessError):
    """The validator cannot work with these settings; nothing was started."""


def check_network(config: ChainConfig) -> None:
    """A network is a name the SDK knows or a ws:// / wss:// endpoint; anything else is a typo."""
    if config.backend != "bittensor" or config.network.startswith(("ws://", "wss://")):
        return
    from bittensor.settings import NETWORKS  # why: the SDK is slow to import; only the bittensor backend needs it

    if config.network not in NETWORKS:
        known = ", ".join(sorted(NETWORKS))
        raise PreflightFailed(
            f"chain.network={config.network!r} is not a known network ({known}) nor a ws:// or wss:// endpoint"
        )


def check_wallet(config: ChainConfig) -> None:
    """The hotkey that sets weights must exist before the first round, not be discovered missing at its end."""
    if config.backend != "bittensor":
        return
    import bittensor as bt  # why: as above

    wallet = bt.Wallet(config.wallet_name, config.wallet_hotkey, path=config.wallet_path)
    hotkey_file = Path(config.wallet_path).expanduser() / config.wallet_name / "hotkeys" / config.wallet_hotkey
    if not hotkey_file.is_file():
        raise PreflightFailed(
            f"validator hotkey not found: {hotkey_file} (set chain.wallet_name / chain.wallet_hotkey / "
            "chain.wallet_path, or create it with `btcli wallet new_hotkey`)"
        )
    try:
        from bittensor.signing import as_ss58

        as_ss58(wallet, "hotkey_ss58")
    except (OSError, ValueError, bt.BittensorError) as exc:
        raise PreflightFailed(f"validator hotkey {hotkey_file} is unreadable: {exc}") from exc


def check_endpoint(config: ChainConfig, default_dir: Path) -> None:
    """One read, no retries, a short deadline: an endpoint that does not answer now is a setting to check."""
    if config.backend != "bittensor":
        return
    probe_config = config.model_copy(
        update={"retries": 0, "call_timeout_s": min(config.call_timeout_s, PREFLIGHT_DEADLINE_S)}
    )
    chain: Chain = open_chain(probe_config, default_dir)
    try:
        chain.current_block()
    except ChainError as exc:
        raise PreflightFailed(
            f"chain endpoint {config.network!r} did not answer: {_first_line(str(exc))} (check chain.network and "
            "the node's address and port)"
        ) from exc
    finally:
        chain.close()


def preflight(config: ChainConfig, default_dir: Path, *, allow_fingerprint_mismatch: bool = False) -> None:
    """The installation, the network's name, then the wallet (no network needed), then the endpoint: the
    cheapest, most likely mistakes first."""
    check_release(allow_fingerprint_mismatch)
    check_network(config)
    check_wallet(config)
    check_endpoint(config, default_dir)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no answer"
