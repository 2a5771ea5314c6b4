"""A curator's batch for one epoch: BFCL-format JSONL, time-locked to a drand round, hashed, signed.

File form (one canonical JSON object, `harness.tasks.taskset.canonical_bytes`):
`{"format", "epoch", "curator", "drand_round", "entries", "plaintext_sha256", "ciphertext", "signature"}`.
`epoch` is the seed block of the epoch the batch serves (`chain.base.epoch_start`); `ciphertext` is hex of
`bittensor_core.encrypt_at_round(plaintext, drand_round)`; `signature` is hex of the curator's sr25519
signature over the canonical bytes of every other field. So a validator checks who made the batch, for which
epoch and round, before asking the beacon for anything, and checks the plaintext's hash after decrypting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import bittensor_core

from harness.feed.errors import FeedError
from harness.tasks.taskset import canonical_bytes

FORMAT = "harness-feed/1"
_FIELDS = ("format", "epoch", "curator", "drand_round", "entries", "plaintext_sha256", "ciphertext", "signature")
_ROUND_SUFFIX = b"AES_GCM_"  # bittensor_core ends a ciphertext with this marker and the round (u64, little-endian)


@dataclass(frozen=True)
class Batch:
    epoch: int
    curator: str
    drand_round: int
    entries: int
    plaintext_sha256: str
    ciphertext: bytes
    signature: bytes

    def unsigned(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "epoch": self.epoch,
            "curator": self.curator,
            "drand_round": self.drand_round,
            "entries": self.entries,
            "plaintext_sha256": self.plaintext_sha256,
            "ciphertext": self.ciphertext.hex(),
        }

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature, canonical."""
        return canonical_bytes(self.unsigned())

    def to_bytes(self) -> bytes:
        return canonical_bytes({**self.unsigned(), "signature": self.signature.hex()})


def seal(plaintext: bytes, *, epoch: int, drand_round: int, entries: int, keypair: Any) -> Batch:
    """Lock `plaintext` to `drand_round` and sign the batch with the curator's `bittensor_core.Keypair`."""
    ciphertext, _round = bittensor_core.encrypt_at_round(plaintext, drand_round)
    unsigned = Batch(
        epoch=epoch,
        curator=keypair.ss58_address,
        drand_round=drand_round,
        entries=entries,
        plaintext_sha256=hashlib.sha256(plaintext).hexdigest(),
        ciphertext=bytes(ciphertext),
        signature=b"",
    )
    return Batch(**{**unsigned.__dict__, "signature": bytes(keypair.sign(unsigned.signed_bytes()))})


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FeedError("malformed", f"batch field {key!r} must be a non-negative integer")
    return value


def _hex(obj: dict[str, Any], key: str) -> bytes:
    value = obj.get(key)
    try:
        return bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raise FeedError("malformed", f"batch field {key!r} is not hex") from None


def parse(data: bytes) -> Batch:
    """A batch from its file bytes; anything else is `feed/malformed`."""
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FeedError("malformed", f"batch is not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise FeedError("malformed", f"not a {FORMAT} batch")
    extra = sorted(set(obj) - set(_FIELDS))
    if extra:
        raise FeedError("malformed", f"batch has unknown fields {extra}")
    curator, digest = obj.get("curator"), obj.get("plaintext_sha256")
    if not isinstance(curator, str) or not isinstance(digest, str) or len(digest) != 64:
        raise FeedError("malformed", "batch needs 'curator' (ss58) and 'plaintext_sha256' (64 hex)")
    batch = Batch(
        epoch=_int(obj, "epoch"),
        curator=curator,
        drand_round=_int(obj, "drand_round"),
        entries=_int(obj, "entries"),
        plaintext_sha256=digest,
        ciphertext=_hex(obj, "ciphertext"),
        signature=_hex(obj, "signature"),
    )
    if not batch.ciphertext or not batch.signature:
        raise FeedError("malformed", "batch needs a 'ciphertext' and a 'signature'")
    return batch


def verify_signature(batch: Batch) -> None:
    """`feed/bad-signature` unless the batch's own curator signed exactly these fields."""
    try:
        ok = bittensor_core.Keypair(ss58_address=batch.curator).verify(batch.signed_bytes(), batch.signature)
    except (ValueError, TypeError) as exc:
        raise FeedError("bad-signature", f"cannot verify the curator's signature: {exc}") from None
    if not ok:
        raise FeedError("bad-signature", f"the signature is not {batch.curator}'s over this batch")


def ciphertext_round(ciphertext: bytes) -> int | None:
    """The drand round a `bittensor_core` ciphertext names in its tail, None when it has no such tail."""
    tail = ciphertext[-(len(_ROUND_SUFFIX) + 8) :]
    if len(tail) != len(_ROUND_SUFFIX) + 8 or not tail.startswith(_ROUND_SUFFIX):
        return None
    return int.from_bytes(tail[len(_ROUND_SUFFIX) :], "little")


def unlock(batch: Batch, round_signature: str) -> bytes:
    """The plaintext, opened with the drand round's signature and checked against the signed hash."""
    try:
        plaintext = bytes(bittensor_core.decrypt_with_signature(batch.ciphertext, round_signature))
    except ValueError as exc:
        raise FeedError("malformed", f"the ciphertext does not open with round {batch.drand_round}: {exc}") from None
    if hashlib.sha256(plaintext).hexdigest() != batch.plaintext_sha256:
        raise FeedError("hash-mismatch", "the decrypted batch is not the one the curator hashed")
    return plaintext
