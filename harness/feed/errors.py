"""Named feed failures: every way a batch can be unusable is a `StageFailure` with stage `feed` and one of these
classes, so a round records why it fell back (`feed/<class>`) and never crashes on a curator's or a network's
fault."""

from __future__ import annotations

from typing import Literal

from harness.errors import StageFailure

FeedFailureClass = Literal[
    "bad-signature",  # the curator's sr25519 signature does not verify
    "wrong-curator",  # signed by a hotkey other than `tasks.feed_curator`
    "hash-mismatch",  # the decrypted bytes are not the ones the curator hashed and signed
    "locked",  # the drand round's signature is not out yet: the epoch has not opened
    "missing",  # no batch for this epoch at the source
    "oversized",  # the batch is larger than `tasks.feed_max_bytes`
    "malformed",  # not a batch, or its entries are not BFCL-format tasks
    "unreachable",  # the source or the beacon could not be reached
    "wrong-epoch",  # a batch for another epoch (replayed or misplaced)
]

FAILURE_CLASSES: tuple[str, ...] = FeedFailureClass.__args__  # type: ignore[attr-defined]


class FeedError(StageFailure):
    """One feed failure; retryable when the cause may pass (network, an epoch not yet open)."""

    def __init__(self, failure_class: FeedFailureClass, message: str) -> None:
        super().__init__("feed", failure_class, message, retryable=failure_class in ("locked", "unreachable"))
