"""`BittensorChain`: the `Chain` interface on a real subnet, through the bittensor 11 SDK.

The SDK's async `Client` does the chain work (storage reads, the metagraph's commitment decoding, the
`SetWeights` intent that clips, quantises, preflights registration and the rate limit, signs and submits).
This adapter adds what a long-running validator needs around it:

- a deadline on every call (`asyncio.wait_for` on a private event loop thread), so a stalled node can never
  hang the supervisor;
- retries with exponential backoff (tenacity) on timeouts and connection errors, reconnecting in between;
  chain-side rejections are not retried (they would fail identically);
- its own rate-limit check before `set_weights`, which reports how many blocks remain instead of submitting;
- plain return types (`Neuron`, `CommitmentRecord`, ...) so nothing above sees SDK objects.

`substrate_factory` swaps the SDK's chain-access backend (its `Substrate` protocol, normally `RpcSubstrate`
over a websocket); tests use it to answer at that seam while every SDK layer above it runs for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import bittensor as bt
from bittensor import storage as bt_storage
from bittensor.signing import as_ss58

from chain.base import (
    ChainError,
    ChainTimeout,
    CommitmentRecord,
    LastWeights,
    Neuron,
    RateLimited,
    WeightsReceipt,
    check_weights,
)
from chain.commitment import MAX_BYTES as MAX_COMMITMENT_BYTES
from chain.config import ChainConfig
from chain.retry import RetryPolicy, TransientChainError, call_with_retry

T = TypeVar("T")
SubstrateFactory = Callable[[], Any]
_ST = bt_storage.SubtensorModule


class _LoopThread:
    """A private asyncio loop on a daemon thread: the SDK is async, the `Chain` interface is blocking."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bittensor-chain", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self._loop)
        try:
            # wait_for cancels the call at the deadline; the extra margin only guards a wedged loop.
            return future.result(timeout + 5.0)
        except TimeoutError:
            if not future.done():
                future.cancel()
                raise TimeoutError("the chain client's event loop is stuck") from None
            raise

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


class BittensorChain:
    """A subnet (`config.netuid` on `config.network`) seen through the SDK, with deadlines and retries."""

    def __init__(
        self,
        config: ChainConfig,
        *,
        wallet: Any = None,
        substrate_factory: SubstrateFactory | None = None,
    ) -> None:
        self.config = config
        self.netuid = config.netuid
        self.retry = RetryPolicy(attempts=config.retries + 1, wait_s=config.retry_wait_s)
        self._wallet = wallet
        self._substrate_factory = substrate_factory
        self._client: bt.Client | None = None
        self._loop = _LoopThread()
        self._lock = threading.RLock()

    # -- plumbing ---------------------------------------------------------------------------------------------

    @property
    def wallet(self) -> Any:
        if self._wallet is None:
            self._wallet = bt.Wallet(self.config.wallet_name, self.config.wallet_hotkey, path=self.config.wallet_path)
        return self._wallet

    @property
    def hotkey(self) -> str:
        """The validator hotkey's address, from the public key file only (no unlock)."""
        try:
            return str(as_ss58(self.wallet, "hotkey_ss58"))
        except (OSError, ValueError, bt.BittensorError) as exc:
            raise ChainError(
                f"validator hotkey unavailable ({self.config.wallet_name}/{self.config.wallet_hotkey}): {exc}"
            ) from exc

    async def _connected(self) -> bt.Client:
        if self._client is None:
            substrate = self._substrate_factory() if self._substrate_factory else None
            client = bt.Client(self.config.network, substrate=substrate)
            await client.connect()
            self._client = client
        return self._client

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # Closing a broken connection may fail too; it is gone either way.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)

    def _once(self, what: str, fn: Callable[[bt.Client], Awaitable[T]], timeout: float) -> T:
        """One attempt under a deadline; SDK errors become our transient or permanent chain errors."""

        async def go() -> T:
            return await fn(await self._connected())

        try:
            return self._loop.run(go(), timeout)
        except TimeoutError as exc:
            self._reset()
            raise ChainTimeout(f"{what}: no answer within {timeout:g}s") from exc
        except (bt.RpcConnectionError, bt.ConnectionNotReady, ConnectionError) as exc:
            self._reset()
            raise TransientChainError(f"{what}: {exc}") from exc
        except bt.ChainError as exc:
            if exc.code == bt.ErrorCode.RATE_LIMITED:
                raise RateLimited(f"{what}: {exc}", blocks_remaining=-1) from exc
            raise ChainError(f"{what}: {exc}") from exc
        except bt.BittensorError as exc:
            raise ChainError(f"{what}: {exc}") from exc
        except (OSError, ValueError) as exc:  # local trouble, e.g. an unreadable hotkey file: retrying won't help
            raise ChainError(f"{what}: {exc}") from exc

    def _reset(self) -> None:
        """Forget the connection after a timeout or a drop; the next attempt dials afresh."""
        with contextlib.suppress(Exception):
            self._loop.run(self._drop_client(), 10)
        self._client = None

    def _call(self, what: str, fn: Callable[[bt.Client], Awaitable[T]], timeout: float | None = None) -> T:
        deadline = timeout or self.config.call_timeout_s
        with self._lock:
            return call_with_retry(what, lambda: self._once(what, fn, deadline), self.retry)

    def close(self) -> None:
        self._reset()
        self._loop.close()

    # -- reads ------------------------------------------------------------------------------------------------

    def current_block(self) -> int:
        return int(self._call("current block", lambda c: c.block()))

    def block_hash(self, block: int) -> str:
        async def read(client: bt.Client) -> str:
            info = await client.block_info(block)
            if info is None or not info.hash:
                raise ChainError(f"block {block} is unknown to the node")
            return str(info.hash)

        return self._call(f"hash of block {block}", read)

    def neurons(self) -> list[Neuron]:
        async def read(client: bt.Client) -> list[tuple[Any, Any]]:
            return await client.query_map(_ST.Keys, [self.netuid])

        pairs = self._call("neurons", read)
        return sorted((Neuron(int(uid), str(hotkey)) for uid, hotkey in pairs), key=lambda n: n.uid)

    def tempo(self) -> int:
        """The subnet's tempo (blocks per epoch), read from the chain."""
        raw = self._call("tempo", lambda c: c.query(_ST.Tempo, [self.netuid]))
        tempo = int(raw or 0)
        if tempo < 1:
            raise ChainError(f"netuid {self.netuid} reports tempo {raw!r}: no epochs to seed rounds from")
        return tempo

    def commitments(self, at_block: int | None = None) -> list[CommitmentRecord]:
        """Latest commitment of each registered hotkey as of `at_block` (the chain state at that block; None:
        the head), SDK-decoded and timelock-aware; sealed ones carry an error.

        Commitments left by hotkeys that have since deregistered are skipped: they can receive no weight.
        """
        found = self._call("commitments", lambda c: c.subnets.commitments(self.netuid, block=at_block))
        records = []
        for hotkey, item in found.items():
            if item.uid is None:
                continue
            if item.value is None:
                records.append(
                    CommitmentRecord(
                        item.uid, hotkey, item.block, item.data, None, f"commitment is {item.status}, not readable"
                    )
                )
            else:
                records.append(CommitmentRecord.from_raw(item.uid, hotkey, item.block, item.value))
        return sorted(records, key=lambda r: (r.uid, r.hotkey))

    def commit(self, raw: str) -> int:
        """Commit `raw` as this wallet's hotkey's commitment on the subnet (the miner's side); returns the block it
        was included at. The text goes on chain as one `Raw<n>` field, which `commitments()` reads back."""
        data = raw.encode("utf-8")
        if len(data) > MAX_COMMITMENT_BYTES:
            raise ChainError(f"commitment is {len(data)} bytes; the chain allows at most {MAX_COMMITMENT_BYTES}")
        call = bt.calls.Commitments.set_commitment(netuid=self.netuid, info={"fields": [{f"Raw{len(data)}": data}]})

        async def submit(client: bt.Client) -> int:
            result = await client.submit_call(
                call,
                self.wallet,
                signer="hotkey",
                wait_for_inclusion=self.config.wait_for_inclusion,
                wait_for_finalization=self.config.wait_for_finalization,
            )
            if not result.success:
                raise result.error or bt.ChainError(result.message or "set_commitment failed")
            if result.extrinsic_id and "-" in result.extrinsic_id:
                return int(result.extrinsic_id.split("-", 1)[0])
            return int(await client.block())

        with self._lock:
            return self._once("set_commitment", submit, self.config.set_weights_timeout_s)

    def _own_state(self, *, retry: bool = True) -> tuple[int, int | None, int, int]:
        """(current block, our uid or None, weights rate limit, block we last set weights at)."""
        hotkey = self.hotkey

        async def read(client: bt.Client) -> tuple[int, int | None, int, int]:
            block = await client.block()
            uid_raw, rate_raw, last_raw = await asyncio.gather(
                client.query(_ST.Uids, [self.netuid, hotkey], block=block),
                client.query(_ST.WeightsSetRateLimit, [self.netuid], block=block),
                client.query(_ST.LastUpdate, [self.netuid], block=block),
            )
            uid = None if uid_raw is None else int(uid_raw)
            last = 0
            if uid is not None and isinstance(last_raw, list | tuple) and uid < len(last_raw):
                last = int(last_raw[uid])
            return int(block), uid, int(rate_raw or 0), last

        if not retry:  # inside set_weights, whose own retry loop covers this read
            return self._once("validator state", read, self.config.call_timeout_s)
        return self._call("validator state", read)

    def weights_rate_limit_status(self, *, retry: bool = True) -> tuple[bool, int, str]:
        """(allowed now, blocks remaining, why) for this validator's next set_weights."""
        block, uid, limit, last = self._own_state(retry=retry)
        if uid is None:
            return False, 0, f"hotkey {self.hotkey} is not registered on netuid {self.netuid}"
        since = block - last
        if limit and last > 0 and since < limit:
            remaining = limit - since
            return (
                False,
                remaining,
                (
                    f"weights were set {since} blocks ago (block {last}); netuid {self.netuid} allows one set every "
                    f"{limit} blocks: wait {remaining} more"
                ),
            )
        return True, 0, "allowed"

    def last_weights(self) -> LastWeights | None:
        hotkey = self.hotkey

        async def read(client: bt.Client) -> LastWeights | None:
            uid_raw = await client.query(_ST.Uids, [self.netuid, hotkey])
            if uid_raw is None:
                return None
            uid = int(uid_raw)
            row, last_raw = await asyncio.gather(
                client.query(_ST.Weights, [self.netuid, uid]),
                client.query(_ST.LastUpdate, [self.netuid]),
            )
            if not row:
                return None
            block = int(last_raw[uid]) if isinstance(last_raw, list | tuple) and uid < len(last_raw) else 0
            total = sum(int(v) for _, v in row) or 1
            return LastWeights(block, [int(u) for u, _ in row], [int(v) / total for _, v in row])

        return self._call("last weights", read)

    # -- writes -----------------------------------------------------------------------------------------------

    def set_weights(self, uids: list[int], weights: list[float]) -> WeightsReceipt:
        """Set weights once the subnet's rate limit allows; raises `RateLimited` (with blocks to wait) before.

        The submission is bounded by `set_weights_timeout_s` and retried on timeouts and connection errors. A
        retry after a timeout may find the earlier attempt included: the rate limit then refuses and says so.
        """
        check_weights(uids, weights)
        attempts = 0

        def attempt() -> WeightsReceipt:
            nonlocal attempts
            attempts += 1
            allowed, remaining, why = self.weights_rate_limit_status(retry=False)
            if not allowed:
                if remaining == 0:
                    raise ChainError(why)
                note = " (an earlier attempt that timed out was probably included)" if attempts > 1 else ""
                raise RateLimited(why + note, remaining)
            return self._once("set_weights", self._submit(uids, weights), self.config.set_weights_timeout_s)

        with self._lock:
            return call_with_retry("set_weights", attempt, self.retry)

    def _submit(self, uids: list[int], weights: list[float]) -> Callable[[bt.Client], Awaitable[WeightsReceipt]]:
        intent = bt.SetWeights(
            netuid=self.netuid, uids=list(uids), weights=list(weights), version_key=self.config.version_key
        )

        async def submit(client: bt.Client) -> WeightsReceipt:
            result = await client.execute(
                intent,
                self.wallet,
                wait_for_inclusion=self.config.wait_for_inclusion,
                wait_for_finalization=self.config.wait_for_finalization,
            )
            if not result.success:
                error = result.error or bt.ChainError(result.message or "set_weights failed")
                raise error
            block = await client.block()
            if result.extrinsic_id and "-" in result.extrinsic_id:
                block = int(result.extrinsic_id.split("-", 1)[0])
            total = float(sum(weights))
            return WeightsReceipt(
                block=block,
                uids=list(uids),
                weights=[w / total for w in weights],
                version_key=self.config.version_key,
                extrinsic=result.extrinsic_id,
                message=result.message,
            )

        return submit
