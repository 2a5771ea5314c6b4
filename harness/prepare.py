"""The prepare stage of a round: policy from metadata, then the pinned, hash-verified download.

It runs ahead of evaluation (in a worker thread) so the next model's checks and download overlap the current
model's evaluation. Nothing here loads weights or executes anything from the repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import policies
from chain.commitment import Commitment
from harness.config import Settings
from harness.content_hash import content_identity
from harness.errors import HarnessError
from harness.fetch import fetch_model, fetched_digests


class StageFailure(HarnessError):
    """A model could not pass a stage; `failure_class` and the message are recorded in the state store."""

    def __init__(self, stage: str, failure_class: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.stage = stage
        self.failure_class = failure_class
        self.details = details or {}


@dataclass(frozen=True)
class PreparedModel:
    """A model that passed policy and whose files are on disk, verified against its commitment."""

    model_dir: Path
    identity: str  # unsalted content identity: equal for copies, whoever committed them
    facts: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)


def prepare_commitment(commitment: Commitment, hotkey: str, settings: Settings) -> PreparedModel:
    """Check policy from Hub metadata, then fetch exactly the allowed files and verify the salted hash."""
    try:
        manifest = policies.build_hub_manifest(commitment.repo_id, commitment.revision, settings.policy, settings.hub)
    except policies.CheckError as exc:
        raise StageFailure("policy", "unreachable", f"could not read metadata: {exc}") from None
    report = policies.evaluate(manifest, settings.policy, model=commitment.model_ref)
    if not report.allowed:
        summary = "; ".join(f"{v.rule}: {v.message}" for v in report.violations)
        raise StageFailure("policy", "rejected", summary, details=report.to_dict())
    files = policies.download_files(manifest, settings.policy)
    models_dir = settings.fetch.models_dir or Path(settings.cache_dir) / "models"
    try:
        model_dir = fetch_model(
            commitment.repo_id,
            commitment.revision,
            files,
            hotkey,
            commitment.content_hash,
            models_dir=models_dir,
            budget_bytes=settings.fetch.budget_bytes,
            hub=settings.hub,
        )
    except HarnessError as exc:
        failure_class = "hash-mismatch" if "hash mismatch" in str(exc) else "fetch"
        raise StageFailure("fetch", failure_class, str(exc)) from None
    identity = content_identity(fetched_digests(model_dir))
    return PreparedModel(model_dir=model_dir, identity=identity, facts=report.facts, policy=report.to_dict())
