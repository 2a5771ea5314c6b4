"""The prepare stage of a round: policy from metadata, the pinned, hash-verified download, then the policy again
on the fetched folder (the exact bytes the sandbox mounts).

It runs ahead of evaluation (in a worker thread) so the next model's checks and download overlap the current
model's evaluation. The fetched files are then sketched (a few seeded reads per tensor, `harness.models.sketch`)
for the near-copy signal; a sketch that cannot be made is reported with the model, never a reason to stop it.
Both policy checks run in a child process with a deadline and a memory cap
(`policies.check_in_worker`); a check past its deadline is the failure class `prepare-timeout`. Nothing here
loads weights or executes anything from the repository.

Failure classes come from the type of the error, never its text: a Hub that could not be reached (while reading
metadata or downloading) is `unreachable` and retryable, and no verdict on the model; a hash mismatch or a policy
rejection is the model's own and final.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import policies
from chain.base import CommitmentRecord
from chain.commitment import Commitment
from harness.errors import HarnessError, StageFailure
from harness.models.content_hash import content_identity
from harness.models.fetch import FetchUnreachable, HashMismatch, fetch_model, fetched_digests
from harness.models.sketch import sketch_or_error
from harness.settings.root import Settings


@dataclass(frozen=True)
class PreparedModel:
    """A model that passed policy and whose files are on disk, verified against its commitment."""

    model_dir: Path
    identity: str  # unsalted content identity: equal for copies, whoever committed them
    facts: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    sketch: bytes | None = None  # the weight sketch (`harness.models.sketch`, serialised): small, travels from workers
    sketch_error: str | None = None  # why there is no sketch; the model is evaluated all the same


def worker_limits(settings: Settings) -> policies.WorkerLimits:
    return policies.WorkerLimits(settings.policy.check_deadline_s, settings.policy.check_memory_bytes)


def prepare_deadline_s(settings: Settings) -> float:
    """How long a round waits for one model's prepare stage: two policy checks and the fetch, each under its own
    deadline, plus 10% for what lies between them."""
    return 1.1 * (2 * settings.policy.check_deadline_s + settings.fetch.model_deadline_s)


def checked(target: dict[str, Any], settings: Settings, what: str) -> policies.WorkerResult:
    """One policy check in the worker; no verdict becomes a `StageFailure` with its failure class."""
    try:
        return policies.check_in_worker(target, settings.policy, settings.hub, worker_limits(settings))
    except policies.CheckTimeout as exc:
        raise StageFailure("prepare", "prepare-timeout", f"{what}: {exc}") from None
    except policies.CheckResourceError as exc:
        raise StageFailure("prepare", "prepare-memory", f"{what}: {exc}") from None
    except policies.HubUnreachable as exc:
        raise StageFailure("prepare", "unreachable", f"could not read {what}: {exc}", retryable=True) from None
    except policies.CheckError as exc:  # the Hub answered, and what it said cannot be checked: the model's doing
        raise StageFailure("policy", "unreadable", f"could not read {what}: {exc}") from None


def judge_fetched(model_dir: Path, settings: Settings, model: str) -> policies.PolicyReport:
    """The policy on the folder that will be mounted, tokenizer files read in full; refused -> `StageFailure`.
    The metadata check before the fetch is only the cheap pre-filter: the Hub's answers to Range reads and to
    the download need not be the same bytes."""
    result = checked({"local": str(model_dir), "deep": True, "model": model}, settings, "the fetched files")
    if not result.report.allowed:
        summary = "; ".join(f"{v.rule}: {v.message}" for v in result.report.violations)
        raise StageFailure("policy", "rejected", f"fetched files: {summary}", details=result.report.to_dict())
    return result.report


def prepare_commitment(commitment: Commitment, hotkey: str, settings: Settings) -> PreparedModel:
    """Check policy from Hub metadata, fetch exactly the allowed files and verify the salted hash, then judge
    the fetched folder itself before anything starts on it."""
    target = {"repo_id": commitment.repo_id, "revision": commitment.revision}
    result = checked(target, settings, "metadata")
    report = result.report
    report.model = commitment.model_ref
    if not report.allowed:
        summary = "; ".join(f"{v.rule}: {v.message}" for v in report.violations)
        raise StageFailure("policy", "rejected", summary, details=report.to_dict())
    files = result.files
    models_dir = settings.paths.models
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
            deadline_s=settings.fetch.model_deadline_s,
            min_free_bytes=settings.fetch.min_free_bytes,
        )
    except HashMismatch as exc:
        raise StageFailure("fetch", "hash-mismatch", str(exc)) from None
    except FetchUnreachable as exc:
        raise StageFailure("fetch", "unreachable", str(exc), retryable=True) from None
    except HarnessError as exc:
        raise StageFailure("fetch", "fetch", str(exc)) from None
    fetched = judge_fetched(model_dir, settings, commitment.model_ref)
    identity = content_identity(fetched_digests(model_dir))
    sketch, sketch_error = sketch_or_error(model_dir, max_header_bytes=settings.policy.max_header_bytes)
    return PreparedModel(
        model_dir=model_dir,
        identity=identity,
        facts=fetched.facts,
        policy=report.to_dict(),
        sketch=sketch,
        sketch_error=sketch_error,
    )


def prepare_record(record: CommitmentRecord, settings: Settings) -> PreparedModel:
    """The prepare stage of a round (on the head or on a Ray worker): one well-formed chain commitment."""
    if record.commitment is None:
        raise StageFailure("commitment", "malformed", record.error or "unparseable")
    return prepare_commitment(record.commitment, record.hotkey, settings)
