"""The miner's commitment: the line a validator will verify, computed the way the validator verifies it.

A validator reads `ORG/NAME:REVISION:HASH[:COMPETITION]` from chain, checks policy on the repo at REVISION,
downloads exactly the files policy allows and recomputes HASH salted with the committing hotkey
(`harness.models.content_hash.salted_hash`). This module does the same on the miner's side, for a local folder (the
files policy allows in it) or a Hub reference (those files downloaded at the pinned commit), so a commitment
that `harness commitment` prints is one the validators' fetch accepts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from chain.commitment import CommitmentError
from chain.commitment import format as format_commitment
from harness.errors import HarnessError
from harness.miner.selftest import check_policy, stage_hub
from harness.models.content_hash import content_identity, file_sha256, salted_hash
from harness.models.ref import parse_model_ref
from harness.settings.root import Settings
from policies.revision import is_commit_sha


@dataclass(frozen=True)
class MinerCommitment:
    model: str
    hotkey: str
    allowed: bool
    policy_text: str
    files: tuple[str, ...] = ()
    content_hash: str | None = None  # salted with the hotkey: what goes on chain
    identity: str | None = None  # unsalted: equal for copies
    line: str | None = None  # the commitment text, when the repo and revision are known
    repo: str | None = None
    revision: str | None = None


def compute_commitment(
    model: str,
    hotkey: str,
    settings: Settings,
    *,
    repo: str | None = None,
    revision: str | None = None,
    competition: str | None = None,
) -> MinerCommitment:
    """Policy check, then the salted HASH over exactly the files policy allows. A Hub model gives its own repo
    and (resolved) revision; a local folder needs `repo` and `revision` (where it is published) for the line."""
    ref = parse_model_ref(model)
    policy = check_policy(ref, settings)
    if not policy.report.allowed:
        return MinerCommitment(str(ref), hotkey, False, policy.report.to_text())
    files = tuple(policy.files)
    if not files:
        raise HarnessError("policy allows no files to load")
    if ref.is_hub:
        if repo is not None and repo != ref.repo_id:
            raise HarnessError(f"--repo {repo} differs from the model's repo {ref.repo_id}")
        repo, pinned = ref.repo_id, policy.revision or ""
        if revision is not None and revision != pinned:
            raise HarnessError(f"--revision {revision} differs from the model's pinned commit {pinned}")
        revision = pinned
        with tempfile.TemporaryDirectory(prefix="commitment-") as tmp:
            digests = stage_hub(repo, revision, list(files), Path(tmp), settings)  # type: ignore[arg-type]
    else:
        assert ref.path is not None
        try:
            digests = {path: file_sha256(ref.path / path) for path in files}
        except OSError as exc:  # the folder changed since the check, or a name the filesystem refuses
            raise HarnessError(
                f"cannot read {exc.filename or ref.path}: {exc.strerror or type(exc).__name__}"
            ) from None
    content_hash = salted_hash(digests, hotkey)
    line = None
    if repo is not None and revision is not None:
        if not is_commit_sha(revision):
            raise HarnessError(f"revision {revision!r} must be the full 40-hex commit sha validators will fetch")
        try:
            line = format_commitment(repo, revision, content_hash, competition)
        except CommitmentError as exc:
            raise HarnessError(f"invalid commitment: {exc}") from None
    return MinerCommitment(
        model=str(ref),
        hotkey=hotkey,
        allowed=True,
        policy_text=policy.report.to_text(),
        files=files,
        content_hash=content_hash,
        identity=content_identity(digests),
        line=line,
        repo=repo,
        revision=revision,
    )
