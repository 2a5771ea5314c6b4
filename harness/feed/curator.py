"""What a curator does before the epochs open: validate a BFCL-format pool, split it into one batch per epoch,
lock each batch to its drand round and sign it.

Validation is the tasks' own: each line must parse as a private-pool line (`harness.tasks.bfcl.pool_entries`) and
its answer key must pass BFCL's checker against its own function docs (`harness.tasks.bfcl.answerable`, the test
a round's BFCL entries pass), so no batch carries a task that no model could answer. The split is a pure function
of the pool (entries ordered by their hash, then cut into near-equal runs), so rebuilding gives the same batches'
contents; each entry is used in one epoch only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bittensor_core

from harness.errors import HarnessError
from harness.feed.batch import Batch, seal
from harness.tasks.bfcl import answerable, pool_entries
from harness.tasks.jsonl import read_objects
from harness.tasks.taskset import canonical_bytes


@dataclass(frozen=True)
class PoolLine:
    """One accepted pool line: the row as the batch carries it, and the entry the checker judged."""

    row: dict[str, Any]
    entry: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_bytes(self.row)).hexdigest()


@dataclass(frozen=True)
class PoolCheck:
    accepted: list[PoolLine]
    rejected: list[str]  # "<pool>:<line>: why", one per line left out


def check_rows(rows: Sequence[tuple[int, dict[str, Any]]], name: str) -> PoolCheck:
    """Every row parsed as a pool line (a malformed one is an error naming it: the curator fixes the pool) and
    checked: a row whose answer key fails BFCL's checker is left out and listed."""
    accepted, rejected = [], []
    for number, row in rows:
        (entry,) = pool_entries([row], f"{name}:{number}", "feed")
        if answerable(entry):
            accepted.append(PoolLine(row, entry))
        else:
            rejected.append(f"{name}:{number}: its answer key fails BFCL's checker against its own functions")
    return PoolCheck(accepted, rejected)


def check_pool(path: Path) -> PoolCheck:
    return check_rows(read_objects(path, "pool"), str(path))


def split(lines: Sequence[PoolLine], epochs: Sequence[int], per_epoch: int | None = None) -> dict[int, list]:
    """Epoch -> its lines: ordered by hash (independent of the pool's line order), cut into near-equal runs,
    at most `per_epoch` each."""
    if not epochs:
        raise HarnessError("no epochs to build batches for")
    if len(set(epochs)) != len(epochs):
        raise HarnessError("an epoch is listed twice")
    ordered = sorted(lines, key=lambda line: line.digest)
    size, extra = divmod(len(ordered), len(epochs))
    if size == 0:
        raise HarnessError(f"{len(ordered)} usable entries cannot fill {len(epochs)} epochs")
    out, start = {}, 0
    for index, epoch in enumerate(sorted(epochs)):
        count = size + (1 if index < extra else 0)
        out[epoch] = ordered[start : start + count][: per_epoch or None]
        start += count
    return out


def plaintext(lines: Sequence[PoolLine]) -> bytes:
    """A batch's plaintext: one canonical JSON line per entry (the private pool's line format)."""
    return b"".join(canonical_bytes(line.row) + b"\n" for line in lines)


def build_batches(
    lines: Sequence[PoolLine],
    epochs: Sequence[int],
    keypair: Any,
    drand_round: Callable[[int], int],
    per_epoch: int | None = None,
) -> list[Batch]:
    """One signed, locked batch per epoch, in epoch order; `drand_round(epoch)` picks each batch's round."""
    return [
        seal(plaintext(chunk), epoch=epoch, drand_round=drand_round(epoch), entries=len(chunk), keypair=keypair)
        for epoch, chunk in split(lines, epochs, per_epoch).items()
    ]


def load_keypair(uri: str | None = None, keyfile: Path | None = None) -> Any:
    """The curator's sr25519 key: a secret URI or mnemonic (`//Alice`, twelve words), or a bittensor hotkey file
    (JSON with `secretSeed` or `secretPhrase`, unencrypted as bittensor writes hotkeys)."""
    import json

    if (uri is None) == (keyfile is None):
        raise HarnessError("give the curator's key as exactly one of --key-uri or --keyfile")
    try:
        if uri is not None:
            return bittensor_core.Keypair.create_from_uri(uri)
        assert keyfile is not None
        data = json.loads(Path(keyfile).expanduser().read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("secretSeed"), str):
            return bittensor_core.Keypair.create_from_seed(data["secretSeed"])
        if isinstance(data, dict) and isinstance(data.get("secretPhrase"), str):
            return bittensor_core.Keypair.create_from_mnemonic(data["secretPhrase"])
    except (OSError, ValueError, TypeError) as exc:
        raise HarnessError(f"cannot load the curator's key: {exc}") from None
    raise HarnessError(f"{keyfile} holds neither 'secretSeed' nor 'secretPhrase'")


def parse_epochs(spec: str, tempo: int) -> list[int]:
    """Seed blocks from `360,720,1080` or `FIRST+COUNT` (COUNT epochs from seed block FIRST, `tempo` apart)."""
    try:
        if "+" in spec:
            first, count = (int(part) for part in spec.split("+", 1))
            epochs = [first + i * tempo for i in range(count)]
        else:
            epochs = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise HarnessError(f"--epochs takes `B1,B2,...` or `FIRST+COUNT`, not {spec!r}") from None
    if not epochs or any(e < 0 for e in epochs):
        raise HarnessError(f"--epochs {spec!r} names no epoch")
    bad = [e for e in epochs if e % tempo]
    if bad:
        raise HarnessError(f"{bad} are not seed blocks: an epoch opens at a multiple of the tempo ({tempo})")
    return epochs
