"""`names`: file names the filesystem could not hold or would merge, and repos with too many files
(`policies.names`; the count is refused in the manifest before any read)."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.names import shown
from policies.report import Violation


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    return [Violation("names", f"{shown(path)}: {why}") for path, why in sorted(manifest.name_errors.items())]
