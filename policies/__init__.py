"""Model policies: build a manifest from metadata and decide whether a model may be evaluated.

Never imports `harness`, never loads weights, never executes or renders anything from a model repo.

Public API:
- `build_local_manifest(path, config)` / `build_hub_manifest(repo_id, revision, config, hub)` -> `Manifest`
- `evaluate(manifest, config)` -> `PolicyReport` (`.allowed`, `.violations`, `.facts`, `.to_dict()`)
- `download_files(manifest, config)` -> the sorted file list a fetch downloads and the content hash covers
- `check_local(path, config)` / `check_hub(repo_id, revision, config, hub)`: manifest + evaluate in one call
- `check_in_worker(target, config, hub, limits)`: the same in a child process with a deadline and a memory cap
  (what the CLI and the validator use: the check of hostile input never runs in their own process)
"""

from __future__ import annotations

import os

from policies.config import HubConfig, PolicyConfig
from policies.engine import download_files, evaluate
from policies.errors import CheckError, HubUnreachable
from policies.local import LocalReader
from policies.manifest import FileEntry, Manifest, build_manifest
from policies.report import RULE_IDS, PolicyReport, Violation
from policies.worker import CheckResourceError, CheckTimeout, WorkerLimits, WorkerResult, check_in_worker

__all__ = [
    "RULE_IDS",
    "CheckError",
    "CheckResourceError",
    "CheckTimeout",
    "FileEntry",
    "HubConfig",
    "HubUnreachable",
    "Manifest",
    "PolicyConfig",
    "PolicyReport",
    "Violation",
    "WorkerLimits",
    "WorkerResult",
    "build_hub_manifest",
    "build_local_manifest",
    "check_hub",
    "check_in_worker",
    "check_local",
    "download_files",
    "evaluate",
]


def build_local_manifest(path: str | os.PathLike[str], config: PolicyConfig | None = None) -> Manifest:
    return build_manifest(LocalReader(path), config or PolicyConfig())


def build_hub_manifest(
    repo_id: str,
    revision: str | None = None,
    config: PolicyConfig | None = None,
    hub: HubConfig | None = None,
    *,
    deadline: float | None = None,
) -> Manifest:
    """`deadline`: monotonic time by which every request must be done (default: `hub.check_deadline_s` from now)."""
    import time

    from policies.hub import HubClient, HubReader  # why: httpx adds ~60 ms to every local check's worker start

    with HubClient(hub) as client:
        client.check_deadline = deadline if deadline is not None else time.monotonic() + client.config.check_deadline_s
        return build_manifest(HubReader(client, repo_id, revision), config or PolicyConfig())


def check_local(path: str | os.PathLike[str], config: PolicyConfig | None = None) -> PolicyReport:
    return evaluate(build_local_manifest(path, config), config)


def check_hub(
    repo_id: str, revision: str | None = None, config: PolicyConfig | None = None, hub: HubConfig | None = None
) -> PolicyReport:
    manifest = build_hub_manifest(repo_id, revision, config, hub)
    return evaluate(manifest, config, model=f"hf://{repo_id}@{manifest.revision}")
