"""The key the validator signs its published documents with: its own hotkey, never anything that pays.

- bittensor backend: the wallet's hotkey file (`<wallet_path>/<wallet_name>/hotkeys/<wallet_hotkey>`, the
  unencrypted JSON bittensor writes), the key the validator already sets weights with; the coldkey is never read.
- local chain: a development key derived from the local validator's name (`//<local_validator_hotkey>`). Anyone
  can derive it, so it proves only that the bytes did not change; the document says so (`signer_kind`).
A key that cannot be loaded leaves the documents unsigned (and `harness verify-report` says so) rather than
taking the page down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bittensor_core

from harness.errors import HarnessError
from harness.feed.curator import load_keypair
from harness.logging import get_logger
from harness.settings.root import Settings

log = get_logger(__name__)


class Signer:
    """A keypair with what kind of key it is (`wallet-hotkey` or `local-dev`), or no key at all."""

    def __init__(self, keypair: Any | None, kind: str) -> None:
        self.keypair = keypair
        self.kind = kind

    @property
    def address(self) -> str | None:
        return str(self.keypair.ss58_address) if self.keypair is not None else None


def hotkey_file(settings: Settings) -> Path:
    chain = settings.chain
    return Path(chain.wallet_path).expanduser() / chain.wallet_name / "hotkeys" / chain.wallet_hotkey


def validator_signer(settings: Settings) -> Signer:
    """The validator's signing key as the chain backend defines it; `Signer(None, "none")` when unavailable."""
    if settings.chain.backend == "local":
        return Signer(bittensor_core.Keypair.create_from_uri(f"//{settings.chain.local_validator_hotkey}"), "local-dev")
    try:
        return Signer(load_keypair(keyfile=hotkey_file(settings)), "wallet-hotkey")
    except HarnessError as exc:
        log.warning("published documents stay unsigned: the validator hotkey cannot be loaded", reason=str(exc))
        return Signer(None, "none")
