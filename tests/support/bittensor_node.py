"""A small subnet node at the bittensor SDK's chain-access seam, for testing `BittensorChain` without a chain.

The SDK is layered: `Client` / `Snapshot` / metagraph / intents / `Executor` talk only to a `Substrate` (the
SDK's own protocol; production is `RpcSubstrate`, which SCALE-decodes websocket JSON-RPC). This class
implements that protocol with decoded values of the shapes `RpcSubstrate` returns, backed by a tiny state
machine with the pallet rules the harness depends on (registration, commitments, the weights rate limit,
version key, LastUpdate, and commit-reveal: `TimelockedWeightCommits`, the unrevealed-commit limit, reveals that
apply the committed weights and write LastUpdate, or drop a commit whose version key is too old). Everything above
it - reads, commitment decoding, SetWeights' preflight, clipping and u16 quantisation, the timelock encryption of
a commit and its drand reveal round, plan, policy, submit - is the real SDK code.

Commit-reveal: the SDK encrypts a commit to a future drand round whose signature does not exist yet, so nothing
offline can decrypt it. `SealedPayloads` records what the SDK's `get_encrypted_commit_v2` sealed (a pass-through
spy: the SDK's own encryption runs and its ciphertext is what the node receives); the node opens a commit from
that record when its reveal is due, as the chain would with the drand pulse. A reveal is due when told
(`reveal_due(force=True)`), when `drand_round` reaches the commit's round, or when the block passes the commit's
scheduled block (`reveal_after_blocks`); `advance(n)` moves blocks and reveals what is due.

`fail_next = "ErrorName"` makes the next weights extrinsic fail with that chain error (one the SDK's preflight
would otherwise catch first, or a race such as commit-reveal switched on mid-call).

Unmodelled storage raises `bittensor.ChainError`, so a read the adapter starts to depend on shows up as a
test failure rather than a silent default. `stall[method] = n` makes the next n calls hang (a stalled node);
`lose_reply["submit"] = n` applies the extrinsic and then hangs (the reply is lost).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import bittensor as bt
import bittensor_core
import pytest

from chain.config import ChainConfig

NETUID = 7
MECHANISM_STRIDE = 4096  # storage index of (netuid, mechid): mechid * 4096 + netuid


@dataclass(frozen=True)
class Sealed:
    uids: list[int]
    values: list[int]
    version_key: int


class SealedPayloads:
    """What the SDK sealed into each weights commit, by ciphertext (stands in for the future drand pulse)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.by_ciphertext: dict[bytes, Sealed] = {}
        real = bittensor_core.get_encrypted_commit_v2

        def spy(**kwargs: Any) -> tuple[bytes, int]:
            commit, reveal_round = real(**kwargs)
            self.by_ciphertext[bytes(commit)] = Sealed(
                list(kwargs["uids"]), list(kwargs["weights"]), int(kwargs["version_key"])
            )
            return commit, reveal_round

        monkeypatch.setattr(bittensor_core, "get_encrypted_commit_v2", spy)


class SubnetNode:
    def __init__(
        self,
        hotkeys: list[str],
        *,
        rate_limit: int = 100,
        version_key: int = 3,
        commit_reveal: bool = False,
        sealed: SealedPayloads | None = None,
        reveal_after_blocks: int = 360,
        max_unrevealed: int = 10,
        min_allowed_weights: int = 1,
        activity_cutoff: int = 5000,
    ) -> None:
        self.block = 1000
        self.tempo = 360
        self.history: list[tuple[int, str, dict[str, Any]]] = []  # (block, hotkey, record): commitments over time
        self.hotkeys = list(hotkeys)
        self.rate_limit = rate_limit
        self.version_key = version_key
        self.last_update = [0] * len(hotkeys)
        self.weights: dict[int, list[tuple[int, int]]] = {}
        self.commit_reveal = commit_reveal
        self.sealed = sealed
        self.reveal_after_blocks = reveal_after_blocks
        self.max_unrevealed = max_unrevealed
        self.min_allowed_weights = min_allowed_weights
        self.activity_cutoff = activity_cutoff
        self.drand_round = 0  # the latest drand pulse the chain has stored
        # TimelockedWeightCommits for mechanism 0: epoch -> [(hotkey, commit block, ciphertext, reveal round)]
        self.commits: dict[int, list[tuple[str, int, bytes, int]]] = {}
        self.dropped: list[tuple[str, int, str]] = []  # (hotkey, commit block, why) of commits the reveal refused
        self.fail_next: str | None = None
        self.commitments: dict[str, dict[str, Any]] = {}
        self.submitted: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.stall: Counter[str] = Counter()
        self.lose_reply: Counter[str] = Counter()

    mechid = 0

    def _index(self) -> int:
        return self.mechid * MECHANISM_STRIDE + NETUID

    # -- test controls ----------------------------------------------------------------------------------------

    def commit(self, hotkey: str, text: str, block: int | None = None) -> None:
        data = text.encode()
        self._store_commitment(hotkey, {f"Raw{len(data)}": "0x" + data.hex()}, self.block if block is None else block)

    def _store_commitment(self, hotkey: str, field: dict[str, Any], block: int) -> None:
        record = {"block": block, "deposit": 0, "info": {"fields": [field]}}
        self.commitments[hotkey] = record
        self.history.append((block, hotkey, record))

    def _commitments_at(self, block_hash: str | None) -> list[tuple[str, dict[str, Any]]]:
        """CommitmentOf as the chain state at `block_hash` holds it (the latest record per hotkey up to it)."""
        if block_hash is None:
            return list(self.commitments.items())
        at = self._block_of(block_hash)
        latest: dict[str, dict[str, Any]] = {}
        for block, hotkey, record in self.history:
            if block <= at:
                latest[hotkey] = record
        return list(latest.items())

    def advance(self, blocks: int) -> None:
        self.block += blocks
        self.reveal_due()

    def reveal_due(self, *, force: bool = False) -> int:
        """Reveal every commit whose time has come (all of them with `force`); returns how many left the queue."""
        done = 0
        for epoch in sorted(self.commits):
            keep = []
            for hotkey, block, ciphertext, reveal_round in self.commits[epoch]:
                due = force or self.drand_round >= reveal_round or self.block >= block + self.reveal_after_blocks
                if not due:
                    keep.append((hotkey, block, ciphertext, reveal_round))
                    continue
                done += 1
                self._reveal(hotkey, block, ciphertext)
            if keep:
                self.commits[epoch] = keep
            else:
                del self.commits[epoch]
        return done

    def _reveal(self, hotkey: str, commit_block: int, ciphertext: bytes) -> None:
        """What the chain does with a due commit: open it, then apply it as a plain set (silently dropped when
        that would fail: an unopenable commit, an old version key, a deregistered hotkey)."""
        payload = self.sealed.by_ciphertext.get(ciphertext) if self.sealed else None
        if payload is None:
            self.dropped.append((hotkey, commit_block, "cannot decrypt"))
        elif payload.version_key < self.version_key:
            self.dropped.append((hotkey, commit_block, "IncorrectWeightVersionKey"))
        elif hotkey not in self.hotkeys:
            self.dropped.append((hotkey, commit_block, "HotKeyNotRegisteredInSubNet"))
        else:
            uid = self.hotkeys.index(hotkey)
            self.weights[uid] = list(zip(payload.uids, payload.values, strict=True))
            self.last_update[uid] = self.block

    def pending(self, hotkey: str) -> list[tuple[int, int]]:
        return sorted((b, r) for q in self.commits.values() for hk, b, _c, r in q if hk == hotkey)

    def commit_sealed(self, hotkey: str, reveal_round: int) -> None:
        self._store_commitment(
            hotkey, {"TimelockEncrypted": {"encrypted": "0x00", "reveal_round": reveal_round}}, self.block
        )

    async def _gate(self, method: str) -> None:
        self.calls[method] += 1
        if self.stall[method] > 0:
            self.stall[method] -= 1
            await asyncio.sleep(3600)

    # -- the Substrate protocol (the parts a validator uses) --------------------------------------------------

    token_symbols: dict[int, str] = {}  # noqa: RUF012 - the protocol declares it as a plain attribute

    def balance(self, rao: int, netuid: int = 0) -> bt.Balance:
        return bt.Balance(int(rao), netuid, None)

    async def connect(self) -> None:
        await self._gate("connect")

    async def close(self) -> None:
        self.calls["close"] += 1

    async def block_number(self) -> int:
        await self._gate("block_number")
        return self.block

    async def finalized_block_number(self) -> int:
        return self.block - 2

    def _hash(self, block: int) -> str:
        return "0x" + f"{block:x}".rjust(64, "b")

    def _block_of(self, block_hash: str) -> int:
        for block in range(self.block, -1, -1):
            if self._hash(block) == block_hash:
                return block
        raise bt.ChainError(f"unknown block hash {block_hash}")

    async def block_hash(self, block: int | None = None) -> str:
        await self._gate("block_hash")
        return self._hash(self.block if block is None else block)

    async def block_time(self) -> float:
        return 12.0

    async def get_block(self, block_number: int | None = None, block_hash: str | None = None) -> dict | None:
        await self._gate("get_block")
        number = self.block if block_number is None else block_number
        if number > self.block:
            return None
        header = {"number": number, "hash": self._hash(number), "parentHash": self._hash(number - 1)}
        return {"header": header, "extrinsics": []}

    async def query(
        self, module: str, storage_function: str, params: list | None = None, block_hash: str | None = None
    ) -> Any:
        await self._gate("query")
        params = params or []
        key = (module, storage_function)
        if key == ("Timestamp", "Now"):
            return 1_700_000_000_000
        if module != "SubtensorModule" or (params and params[0] % MECHANISM_STRIDE != NETUID):
            raise bt.ChainError(f"unmodelled storage {module}.{storage_function}{params}")
        if storage_function in ("LastUpdate", "Weights") and params[0] != self._index():
            return [] if storage_function == "Weights" else None  # another mechanism: nothing stored
        if storage_function == "Uids":
            return self.hotkeys.index(params[1]) if params[1] in self.hotkeys else None
        if storage_function == "WeightsSetRateLimit":
            return self.rate_limit
        if storage_function == "LastUpdate":
            return list(self.last_update)
        if storage_function == "Weights":
            return list(self.weights.get(params[1], []))
        if storage_function == "CommitRevealWeightsEnabled":
            return self.commit_reveal
        if storage_function == "MinAllowedWeights":
            return self.min_allowed_weights
        if storage_function == "RevealPeriodEpochs":
            return 1
        if storage_function in ("LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex", "BlocksSinceLastStep"):
            epoch_start = self.block - self.block % (self.tempo + 1)
            values = {
                "LastEpochBlock": epoch_start,
                "PendingEpochAt": 0,
                "SubnetEpochIndex": self.block // (self.tempo + 1),
                "BlocksSinceLastStep": self.block - epoch_start,
            }
            return values[storage_function]
        if storage_function == "ActivityCutoffFactorMilli":
            return None  # an older runtime: the absolute ActivityCutoff counts
        if storage_function == "ActivityCutoff":
            return self.activity_cutoff
        if storage_function == "MaxWeightsLimit":
            return 65535
        if storage_function == "SubnetEpochConsensus":
            return "Yuma"
        if storage_function == "WeightsVersionKey":
            return self.version_key
        if storage_function == "Tempo":
            return self.tempo
        raise bt.ChainError(f"unmodelled storage {module}.{storage_function}{params}")

    async def query_map(
        self, module: str, storage_function: str, params: list | None = None, block_hash: str | None = None
    ) -> list:
        await self._gate("query_map")
        if (module, storage_function) == ("SubtensorModule", "TimelockedWeightCommits"):
            if params == [self._index()]:
                return [(epoch, list(q)) for epoch, q in sorted(self.commits.items())]
            return []
        if params != [NETUID]:
            raise bt.ChainError(f"unmodelled map {module}.{storage_function}{params}")
        if (module, storage_function) == ("SubtensorModule", "Keys"):
            return list(enumerate(self.hotkeys))
        if (module, storage_function) == ("SubtensorModule", "Uids"):
            return [(hk, uid) for uid, hk in enumerate(self.hotkeys)]
        if (module, storage_function) == ("Commitments", "CommitmentOf"):
            return self._commitments_at(block_hash)
        if (module, storage_function) == ("Commitments", "RevealedCommitments"):
            return []
        raise bt.ChainError(f"unmodelled map {module}.{storage_function}{params}")

    async def compose(self, call: Any) -> dict:
        return {
            "call_module": call.module,
            "call_function": call.function,
            "call_args": [{"name": k, "value": v} for k, v in call.params.items()],
        }

    async def estimate_fee(self, call: Any, keypair: Any) -> bt.Balance:
        return bt.Balance(1000, 0, None)

    async def submit(
        self,
        call: dict,
        keypair: Any,
        *,
        nonce: int | None = None,
        period: int | None = None,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> bt.ExtrinsicResult:
        await self._gate("submit")
        args = {a["name"]: a["value"] for a in call["call_args"]}
        self.submitted.append({"function": call["call_function"], "signer": keypair.ss58_address, **args})
        result = self._apply(call["call_function"], keypair.ss58_address, args)
        if result.success and self.lose_reply["submit"] > 0:
            self.lose_reply["submit"] -= 1
            await asyncio.sleep(3600)
        return result

    def _apply(self, function: str, signer: str, args: dict) -> bt.ExtrinsicResult:
        def fail(name: str) -> bt.ExtrinsicResult:
            return bt.ExtrinsicResult(False, name, error=bt.ChainError(name, name=name))

        if function == "set_commitment" and args["netuid"] == NETUID:
            return self._apply_commitment(signer, args["info"])
        weights_calls = ("set_mechanism_weights", "commit_timelocked_mechanism_weights")
        if function not in weights_calls or args["netuid"] != NETUID:
            return fail("CallUnavailable")
        if self.fail_next is not None:
            name, self.fail_next = self.fail_next, None
            return fail(name)
        if args["mecid"] != self.mechid:
            return fail("MechanismDoesNotExist")
        if signer not in self.hotkeys:
            return fail("HotKeyNotRegisteredInSubNet")
        uid = self.hotkeys.index(signer)
        if function == "commit_timelocked_mechanism_weights":
            return self._apply_commit(signer, uid, args)
        if self.commit_reveal:
            return fail("CommitRevealEnabled")
        if args["version_key"] < self.version_key:
            return fail("IncorrectWeightVersionKey")
        last = self.last_update[uid]
        if last and self.block - last < self.rate_limit:
            return fail("SettingWeightsTooFast")
        self.block += 1
        self.weights[uid] = list(zip(args["dests"], args["weights"], strict=True))
        self.last_update[uid] = self.block
        return bt.ExtrinsicResult(True, "included", block_hash=self._hash(self.block), extrinsic_id=f"{self.block}-2")

    def _apply_commit(self, signer: str, uid: int, args: dict) -> bt.ExtrinsicResult:
        def fail(name: str) -> bt.ExtrinsicResult:
            return bt.ExtrinsicResult(False, name, error=bt.ChainError(name, name=name))

        if not self.commit_reveal:
            return fail("CommitRevealDisabled")
        last = self.last_update[uid]
        if last and self.block - last < self.rate_limit:
            return fail("CommittingWeightsTooFast")
        if len(self.pending(signer)) >= self.max_unrevealed:
            return fail("TooManyUnrevealedCommits")
        if int(args["reveal_round"]) <= self.drand_round:
            return fail("InvalidRevealRound")
        self.block += 1
        epoch = self.block // (self.tempo + 1)
        self.commits.setdefault(epoch, []).append(
            (signer, self.block, bytes(args["commit"]), int(args["reveal_round"]))
        )
        self.last_update[uid] = self.block  # a commit counts as activity and for the rate limit, as on chain
        return bt.ExtrinsicResult(True, "included", block_hash=self._hash(self.block), extrinsic_id=f"{self.block}-2")

    def _apply_commitment(self, signer: str, info: dict) -> bt.ExtrinsicResult:
        if signer not in self.hotkeys:
            return bt.ExtrinsicResult(False, "AccountNotAllowedCommit", error=bt.ChainError("AccountNotAllowedCommit"))
        [field] = info["fields"]
        [(kind, data)] = field.items()
        if kind != f"Raw{len(data)}":
            return bt.ExtrinsicResult(False, "BadCommitment", error=bt.ChainError(f"{kind} for {len(data)} bytes"))
        self.block += 1
        self._store_commitment(signer, {kind: "0x" + bytes(data).hex()}, self.block)
        return bt.ExtrinsicResult(True, "included", block_hash=self._hash(self.block), extrinsic_id=f"{self.block}-3")


def new_wallet(path: str, name: str = "validator", hotkey: str = "hot") -> bt.Wallet:
    """A real SDK wallet with unencrypted keys under `path`, read back as the service would open it."""
    created = bt.Wallet(name, hotkey, path=path)
    created.create_new_coldkey(use_password=False, suppress=True, overwrite=True)
    created.create_new_hotkey(suppress=True, overwrite=True)
    return bt.Wallet(name, hotkey, path=path)


def node_config(**overrides: object) -> ChainConfig:
    """The bittensor backend's settings against the fake node (the endpoint is never dialled): short deadlines."""
    base: dict[str, object] = dict(
        backend="bittensor",
        netuid=NETUID,
        network="ws://127.0.0.1:9",
        version_key=3,
        call_timeout_s=1.0,
        set_weights_timeout_s=1.0,
        retries=2,
        retry_wait_s=0,
    )
    return ChainConfig(**(base | overrides))  # type: ignore[arg-type]
