"""What a round carries from the feed: the decrypted entries of its epoch's batch, or why there are none.

Kept free of I/O and crypto so that the task builder, the evaluation contract and a Ray worker can import it
cheaply: the head reads the feed once, and this value travels (pickled) with each model's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import Failure

STAGE = "feed"


@dataclass(frozen=True)
class FeedTasks:
    """One epoch's feed as a round uses it. `entries` are BFCL-format entries (`harness.tasks.bfcl` form:
    functions, conversation, answer, category, source); `failure` set means the round's whole feed share falls
    back to local generation (never a partial mix)."""

    epoch: int
    entries: tuple[dict[str, Any], ...] = ()
    batch_sha256: str | None = None
    failure: Failure | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.failure is None and bool(self.entries)

    def task_set_record(self) -> dict[str, Any]:
        """What the task set records about the feed (hashed with it, so `task_set_sha256` covers the batch)."""
        if self.ok:
            return {"epoch": self.epoch, "batch_sha256": self.batch_sha256, "entries": len(self.entries)}
        failure_class = self.failure.failure_class if self.failure is not None else "empty"
        return {"epoch": self.epoch, "failure": failure_class}

    @classmethod
    def failed(cls, epoch: int, failure_class: str, message: str) -> FeedTasks:
        return cls(epoch=epoch, failure=Failure(STAGE, failure_class, message))
