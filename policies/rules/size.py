"""`size`: parameters counted exactly from safetensors headers, and total repo bytes, against caps."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.report import Violation


def parameter_count(manifest: Manifest) -> int:
    return sum(h.parameters for h in manifest.headers.values())


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    out = []
    params = parameter_count(manifest)
    if params > config.max_parameters:
        out.append(Violation("size", f"{params:,} parameters exceed the cap of {int(config.max_parameters):,}"))
    total = sum(f.size for f in manifest.files)
    if total > config.max_total_bytes:
        out.append(Violation("size", f"{total:,} bytes exceed the cap of {config.max_total_bytes:,}"))
    return out
