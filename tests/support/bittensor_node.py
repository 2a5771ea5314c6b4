"""A small subnet node at the bittensor SDK's chain-access seam, for testing `BittensorChain` without a chain.

The SDK is layered: `Client` / `Snapshot` / metagraph / intents / `Executor` talk only to a `Substrate` (the
SDK's own protocol; production is `RpcSubstrate`, which SCALE-decodes websocket JSON-RPC). This class
implements that protocol with decoded values of the shapes `RpcSubstrate` returns, backed by a tiny state
machine with the pallet rules the harness depends on (registration, commitments, the weights rate limit,
version key, LastUpdate). Everything above it - reads, commitment decoding, SetWeights' preflight, clipping
and u16 quantisation, plan, policy, submit - is the real SDK code.

Unmodelled storage raises `bittensor.ChainError`, so a read the adapter starts to depend on shows up as a
test failure rather than a silent default. `stall[method] = n` makes the next n calls hang (a stalled node);
`lose_reply["submit"] = n` applies the extrinsic and then hangs (the reply is lost).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import bittensor as bt

NETUID = 7


class SubnetNode:
    def __init__(self, hotkeys: list[str], *, rate_limit: int = 100, version_key: int = 3) -> None:
        self.block = 1000
        self.tempo = 360
        self.history: list[tuple[int, str, dict[str, Any]]] = []  # (block, hotkey, record): commitments over time
        self.hotkeys = list(hotkeys)
        self.rate_limit = rate_limit
        self.version_key = version_key
        self.last_update = [0] * len(hotkeys)
        self.weights: dict[int, list[tuple[int, int]]] = {}
        self.commitments: dict[str, dict[str, Any]] = {}
        self.submitted: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.stall: Counter[str] = Counter()
        self.lose_reply: Counter[str] = Counter()

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
        if module != "SubtensorModule" or (params and params[0] != NETUID):
            raise bt.ChainError(f"unmodelled storage {module}.{storage_function}{params}")
        if storage_function == "Uids":
            return self.hotkeys.index(params[1]) if params[1] in self.hotkeys else None
        if storage_function == "WeightsSetRateLimit":
            return self.rate_limit
        if storage_function == "LastUpdate":
            return list(self.last_update)
        if storage_function == "Weights":
            return list(self.weights.get(params[1], []))
        if storage_function == "CommitRevealWeightsEnabled":
            return False
        if storage_function == "MinAllowedWeights":
            return 1
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
        if function != "set_mechanism_weights" or args["netuid"] != NETUID:
            return fail("CallUnavailable")
        if signer not in self.hotkeys:
            return fail("HotKeyNotRegisteredInSubNet")
        uid = self.hotkeys.index(signer)
        if args["version_key"] < self.version_key:
            return fail("IncorrectWeightVersionKey")
        last = self.last_update[uid]
        if last and self.block - last < self.rate_limit:
            return fail("SettingWeightsTooFast")
        self.block += 1
        self.weights[uid] = list(zip(args["dests"], args["weights"], strict=True))
        self.last_update[uid] = self.block
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
