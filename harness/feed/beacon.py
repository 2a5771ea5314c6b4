"""Who releases a drand round's signature, the key that opens a time-locked batch.

`Beacon.signature(drand_round, epoch)` gives the round's signature (hex) or None while it is not out yet; an
unreachable beacon raises `feed/unreachable`. Three sources:

- `DrandHttpBeacon`: the drand HTTP API, `GET {base}/{chain_hash}/public/{round}` (JSON with `signature`);
- `ChainBeacon`: the subtensor chain's Drand pallet (`Drand.Pulses[round]`), which the chain fills from drand
  for its own commit-reveal; a validator needs no other network than the chain it already reads;
- `LocalBeacon`: the embedded local chain and the tests. It knows one public quicknet round (657413) and its
  signature and releases it only once the local chain's block has reached the batch's epoch (seed block), so
  "nobody reads it one block early" holds on a chain whose blocks, not wall time, make the epochs.

Which round a batch uses (`drand_round_for_epoch`): on a real net, the quicknet round whose time is at or just
before the seed block's expected time (less a lead that absorbs block-time drift), so every validator reading
at the seed block can decrypt; on the local chain, always the known round.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from harness.feed.errors import FeedError
from harness.feed.source import get_capped

QUICKNET_CHAIN_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_GENESIS = 1_692_803_367  # unix time of round 1
QUICKNET_PERIOD_S = 3
KNOWN_ROUND = 657413
KNOWN_SIGNATURE = "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b"
MAX_BEACON_BYTES = 64 * 1024


class Beacon(Protocol):
    name: str

    def signature(self, drand_round: int, epoch: int) -> str | None:
        """The round's signature (hex), None while it is not released; `FeedError("unreachable")` on I/O."""
        ...


def quicknet_round_at(unix_time: float) -> int:
    """The latest quicknet round published at `unix_time` (0 before genesis)."""
    if unix_time < QUICKNET_GENESIS:
        return 0
    return int((unix_time - QUICKNET_GENESIS) // QUICKNET_PERIOD_S) + 1


def quicknet_time_of(drand_round: int) -> float:
    return QUICKNET_GENESIS + (drand_round - 1) * QUICKNET_PERIOD_S


def drand_round_for_epoch(
    epoch: int, *, anchor_block: int, anchor_time: float, block_time_s: float = 12.0, lead_s: float = 60.0
) -> int:
    """The quicknet round a real-net batch for seed block `epoch` is locked to: the round at (the seed block's
    expected time - `lead_s`), the expected time extrapolated from a known (block, time) at `block_time_s` per
    block. The lead keeps the batch readable at the seed block when blocks run a little fast; it is also how
    early the batch opens at most when they run on time (a minute: too short to train and commit a model,
    and commitments after the seed block do not count in its round anyway)."""
    expected = anchor_time + (epoch - anchor_block) * block_time_s - lead_s
    return max(1, quicknet_round_at(expected))


class LocalBeacon:
    """The known round's signature, released once `current_block()` has reached the batch's epoch."""

    name = "local"

    def __init__(self, current_block: Callable[[], int]) -> None:
        self.current_block = current_block

    def signature(self, drand_round: int, epoch: int) -> str | None:
        if drand_round != KNOWN_ROUND:
            raise FeedError("unreachable", f"the local beacon knows only drand round {KNOWN_ROUND}, not {drand_round}")
        return KNOWN_SIGNATURE if self.current_block() >= epoch else None


class DrandHttpBeacon:
    """The drand HTTP API (any relay: api.drand.sh, a mirror, a local server in tests). A round that the clock
    says is still ahead is not asked for: it is locked."""

    name = "drand-http"

    def __init__(
        self,
        base_url: str,
        chain_hash: str = QUICKNET_CHAIN_HASH,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.chain_hash = chain_hash
        self.timeout_s = timeout_s
        self.clock = clock
        self.transport = transport

    def signature(self, drand_round: int, epoch: int) -> str | None:
        if self.chain_hash == QUICKNET_CHAIN_HASH and drand_round > quicknet_round_at(self.clock()):
            return None
        url = f"{self.base_url}/{self.chain_hash}/public/{drand_round}"
        status, body = get_capped(url, MAX_BEACON_BYTES, self.timeout_s, self.transport)
        if status in (404, 425):  # a relay's answer for a round not yet published
            return None
        if status != 200:
            raise FeedError("unreachable", f"drand {url}: HTTP {status}")
        if body is None:
            raise FeedError("unreachable", f"drand {url}: answer over {MAX_BEACON_BYTES} bytes")
        return _pulse_signature(body, drand_round, url)


def _pulse_signature(body: bytes, drand_round: int, where: str) -> str:
    try:
        pulse = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FeedError("unreachable", f"drand {where}: answer is not JSON") from None
    signature = pulse.get("signature") if isinstance(pulse, dict) else None
    if not isinstance(signature, str) or (isinstance(pulse, dict) and pulse.get("round") != drand_round):
        raise FeedError("unreachable", f"drand {where}: no signature for round {drand_round} in the answer")
    return signature


class ChainBeacon:
    """The chain's Drand pallet pulses, read through a `chain.bittensor_chain.BittensorChain`'s SDK client.
    The pallet keeps a window of recent rounds; a round not stored yet is locked, one pruned already is a
    failure (`unreachable`) rather than a silent fallback."""

    name = "chain"

    def __init__(self, chain: Any) -> None:
        self.chain = chain

    def signature(self, drand_round: int, epoch: int) -> str | None:
        from bittensor import storage as bt_storage  # the SDK is slow to import: only a validator on chain needs it

        drand = bt_storage.Drand

        async def read(client: Any) -> tuple[Any, Any]:
            return await client.query(drand.Pulses, [drand_round]), await client.query(drand.LastStoredRound, [])

        try:
            pulse, last = self.chain._call("drand pulse", read)
        except Exception as exc:  # the adapter's ChainError and anything its SDK raises: the beacon is down
            raise FeedError("unreachable", f"chain drand pulses: {exc}") from None
        if pulse is None:
            if last is not None and int(last) >= drand_round:
                raise FeedError("unreachable", f"the chain no longer stores drand round {drand_round}")
            return None
        signature = pulse.get("signature") if isinstance(pulse, dict) else getattr(pulse, "signature", None)
        if isinstance(signature, list | tuple):
            signature = bytes(signature)
        if isinstance(signature, bytes | bytearray):
            return bytes(signature).hex()
        if isinstance(signature, str):
            return signature.removeprefix("0x")
        raise FeedError("unreachable", f"chain drand pulse {drand_round} has no signature")
