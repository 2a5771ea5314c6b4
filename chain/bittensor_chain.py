"""`BittensorChain`: the `Chain` interface on a real subnet, through the bittensor 11 SDK.

The SDK's async `Client` does the chain work (storage reads, the metagraph's commitment decoding, the
`SetWeights` intent that clips, quantises, preflights registration and the rate limit, signs and submits).
This adapter adds what a long-running validator needs around it:

- a deadline on every call (`asyncio.wait_for` on a private event loop thread), so a stalled node can never
  hang the supervisor;
- retries with exponential backoff (tenacity) on timeouts and connection errors, reconnecting in between;
  chain-side rejections are not retried (they would fail identically);
- its own rate-limit and version-key checks before `set_weights`, which say what to do instead of submitting;
- each chain refusal named for the operator (`chain.weights_errors`: `weights/too-fast`, `weights/version-key`, ...);
- commit-reveal made visible: the commit's drand `reveal_round` kept on the receipt, `reveal_status` reading the
  subnet's `TimelockedWeightCommits` and our `LastUpdate` to say whether a commit is pending, revealed or dropped,
  and `validator_activity` measuring our `LastUpdate` against the activity cutoff;
- plain return types (`Neuron`, `CommitmentRecord`, ...) so nothing above sees SDK objects.

`substrate_factory` swaps the SDK's chain-access backend (its `Substrate` protocol, normally `RpcSubstrate`
over a websocket); tests use it to answer at that seam while every SDK layer above it runs for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import bittensor as bt
from bittensor import storage as bt_storage
from bittensor.settings import GLOBAL_MAX_SUBNET_COUNT
from bittensor.signing import as_ss58

from chain.base import (
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
    check_weights,
)
from chain.commitment import MAX_BYTES as MAX_COMMITMENT_BYTES
from chain.config import ChainConfig
from chain.retry import RetryPolicy, TransientChainError, call_with_retry
from chain.weights_errors import weights_failure

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
            # Cancel what a timed-out call left behind (a half-open session), so that no "Task was destroyed but
            # it is pending" noise follows the one-line error at exit.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_cancel_pending(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


async def _cancel_pending() -> None:
    """Cancel every other task of the loop and wait until each has unwound."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class _ValidatorState:
    """Our validator's standing on the subnet, read at one block."""

    block: int
    uid: int | None
    rate_limit: int
    last_update: int  # 0: never
    version_key: int  # the subnet's WeightsVersionKey
    activity_cutoff: int  # blocks; 0: unknown


def _activity_cutoff(factor_milli: Any, tempo: Any, absolute: Any) -> int:
    """The activity cutoff in blocks: `ActivityCutoffFactorMilli x Tempo / 1000` where the runtime has the factor
    (it supersedes the absolute `ActivityCutoff`), else `ActivityCutoff`."""
    if factor_milli and tempo:
        return int(factor_milli) * int(tempo) // 1000
    return int(absolute or 0)


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
        self.mechid = config.mechid
        # Weights, LastUpdate and weight commits are stored under the mechanism index (= netuid for mechanism 0).
        self.storage_index = config.mechid * GLOBAL_MAX_SUBNET_COUNT + config.netuid
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
        except bt.ChainError as exc:  # set_weights names its refusals itself (`_submit`); others stay generic
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

    def _validator_state(self, *, retry: bool = True) -> _ValidatorState:
        hotkey = self.hotkey
        index = self.storage_index

        async def read(client: bt.Client) -> _ValidatorState:
            block = await client.block()
            uid_raw, rate_raw, last_raw, key_raw, factor_raw, tempo_raw, cutoff_raw = await asyncio.gather(
                client.query(_ST.Uids, [self.netuid, hotkey], block=block),
                client.query(_ST.WeightsSetRateLimit, [self.netuid], block=block),
                client.query(_ST.LastUpdate, [index], block=block),
                client.query(_ST.WeightsVersionKey, [self.netuid], block=block),
                client.query(_ST.ActivityCutoffFactorMilli, [self.netuid], block=block),
                client.query(_ST.Tempo, [self.netuid], block=block),
                client.query(_ST.ActivityCutoff, [self.netuid], block=block),
            )
            uid = None if uid_raw is None else int(uid_raw)
            last = 0
            if uid is not None and isinstance(last_raw, list | tuple) and uid < len(last_raw):
                last = int(last_raw[uid])
            return _ValidatorState(
                block=int(block),
                uid=uid,
                rate_limit=int(rate_raw or 0),
                last_update=last,
                version_key=int(key_raw or 0),
                activity_cutoff=_activity_cutoff(factor_raw, tempo_raw, cutoff_raw),
            )

        if not retry:  # inside set_weights, whose own retry loop covers this read
            return self._once("validator state", read, self.config.call_timeout_s)
        return self._call("validator state", read)

    def _own_state(self, *, retry: bool = True) -> tuple[int, int | None, int, int]:
        """(current block, our uid or None, weights rate limit, block we last set weights at)."""
        state = self._validator_state(retry=retry)
        return state.block, state.uid, state.rate_limit, state.last_update

    def weights_rate_limit_status(self, *, retry: bool = True) -> tuple[bool, int, str]:
        """(allowed now, blocks remaining, why) for this validator's next set_weights."""
        return self._rate_limit_verdict(self._validator_state(retry=retry))

    def _rate_limit_verdict(self, state: _ValidatorState) -> tuple[bool, int, str]:
        block, uid, limit, last = state.block, state.uid, state.rate_limit, state.last_update
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
                client.query(_ST.Weights, [self.storage_index, uid]),
                client.query(_ST.LastUpdate, [self.storage_index]),
            )
            if not row:
                return None
            block = int(last_raw[uid]) if isinstance(last_raw, list | tuple) and uid < len(last_raw) else 0
            total = sum(int(v) for _, v in row) or 1
            return LastWeights(block, [int(u) for u, _ in row], [int(v) / total for _, v in row])

        return self._call("last weights", read)

    def reveal_status(self, commit_block: int, reveal_round: int | None) -> RevealStatus:
        """Whether the weights recorded at `commit_block` are in force, from the chain: a commit of ours still in
        `TimelockedWeightCommits` is pending; once gone, our `LastUpdate` past the commit block means the chain
        revealed and applied it (the reveal writes `LastUpdate`), else it dropped it unapplied."""
        hotkey = self.hotkey
        index = self.storage_index

        async def read(client: bt.Client) -> tuple[int, int, list[tuple[int, int]]]:
            block = await client.block()
            uid_raw, last_raw, queues = await asyncio.gather(
                client.query(_ST.Uids, [self.netuid, hotkey], block=block),
                client.query(_ST.LastUpdate, [index], block=block),
                client.query_map(_ST.TimelockedWeightCommits, [index], block=block),
            )
            last = 0
            if uid_raw is not None and isinstance(last_raw, list | tuple) and int(uid_raw) < len(last_raw):
                last = int(last_raw[int(uid_raw)])
            ours = [
                (int(entry[1]), int(entry[3]))
                for _epoch, entries in queues
                for entry in entries or []
                if str(entry[0]) == hotkey
            ]
            return int(block), last, ours

        if reveal_round is None:
            return RevealStatus("set", commit_block, None, self.current_block(), commit_block)
        block, last, ours = self._call("weight commits", read)
        return judge_reveal(commit_block, reveal_round, block, last, ours)

    def pending_commits(self) -> list[tuple[int, int]]:
        """Our commits still waiting for their drand round: (commit block, reveal round), oldest first."""
        hotkey = self.hotkey

        async def read(client: bt.Client) -> list[tuple[int, int]]:
            queues = await client.query_map(_ST.TimelockedWeightCommits, [self.storage_index])
            return [(int(e[1]), int(e[3])) for _epoch, entries in queues for e in entries or [] if str(e[0]) == hotkey]

        return sorted(self._call("weight commits", read))

    def validator_activity(self) -> ValidatorActivity:
        state = self._validator_state()
        return ValidatorActivity(state.block, state.last_update, state.activity_cutoff)

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
            state = self._validator_state(retry=False)
            allowed, remaining, why = self._rate_limit_verdict(state)
            if not allowed:
                if remaining == 0:
                    raise weights_failure(why, "HotKeyNotRegisteredInSubNet")
                note = " (an earlier attempt that timed out was probably included)" if attempts > 1 else ""
                raise RateLimited(why + note, remaining)
            self._check_version_key(state.version_key)
            return self._once("set_weights", self._submit(uids, weights), self.config.set_weights_timeout_s)

        with self._lock:
            return call_with_retry("set_weights", attempt, self.retry)

    def _check_version_key(self, required: int) -> None:
        """Refuse before signing when our version key is below the subnet's: a plain set would be rejected, and
        under commit-reveal the commit would be accepted and then silently dropped at its reveal."""
        ours = self.config.version_key
        if ours < required:
            raise WeightsRejected(
                "weights/version-key",
                f"chain.version_key {ours} is lower than netuid {self.netuid}'s WeightsVersionKey {required}",
                f"upgrade the validator or set chain.version_key={required} (HARNESS_CHAIN__VERSION_KEY)",
                chain_error="IncorrectWeightVersionKey",
            )

    def _submit(self, uids: list[int], weights: list[float]) -> Callable[[bt.Client], Awaitable[WeightsReceipt]]:
        intent = bt.SetWeights(
            netuid=self.netuid,
            mechid=self.mechid,
            uids=list(uids),
            weights=list(weights),
            version_key=self.config.version_key,
        )

        async def submit(client: bt.Client) -> WeightsReceipt:
            try:
                result = await client.execute(
                    intent,
                    self.wallet,
                    wait_for_inclusion=self.config.wait_for_inclusion,
                    wait_for_finalization=self.config.wait_for_finalization,
                )
                if not result.success:
                    raise result.error or bt.ChainError(result.message or "set_weights failed")
            except bt.ChainError as exc:  # refused by the chain or by the SDK's preflight: name it
                raise weights_failure(exc.message, exc.name, exc.code.value, exc.remediation) from exc
            reveal_round = result.data.get("reveal_round")
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
                reveal_round=None if reveal_round is None else int(reveal_round),
            )

        return submit


def judge_reveal(
    commit_block: int, reveal_round: int, block: int, last_update: int, ours: list[tuple[int, int]]
) -> RevealStatus:
    """The reveal state of our commit at `commit_block`, from what the chain holds at `block`: our `LastUpdate`
    and our pending commits `(commit block, reveal round)`. A commit and a reveal both write `LastUpdate`, so a
    `LastUpdate` equal to a later pending commit's block says the reveal happened but not when."""
    if any(b == commit_block for b, _ in ours):
        return RevealStatus("pending", commit_block, reveal_round, block)
    if last_update <= commit_block:
        return RevealStatus(
            "dropped",
            commit_block,
            reveal_round,
            block,
            detail="the commit left the queue but nothing was applied (refused at reveal, e.g. an old version key, "
            "or expired)",
        )
    if any(b == last_update for b, _ in ours):
        return RevealStatus("revealed", commit_block, reveal_round, block, None, f"revealed by block {block}")
    return RevealStatus("revealed", commit_block, reveal_round, block, last_update)
