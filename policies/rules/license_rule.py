"""`license`: the model card's front-matter license must be in the subnet's allowlist."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.metadata import license_of
from policies.report import Violation


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    licenses, err = license_of(manifest)
    if err:
        return [Violation("license", f"license unknown: {err}")]
    if not licenses:
        return [Violation("license", "model card declares no license")]
    allowed = {a.lower() for a in config.allowed_licenses}
    bad = [lic for lic in licenses if lic not in allowed]
    if bad:
        return [
            Violation("license", f"license {', '.join(bad)} is not in the allowlist ({', '.join(sorted(allowed))})")
        ]
    return []
