"""`symlink`: symlinks, special files and paths that leave the repo folder are refused, never followed."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest, escapes_root
from policies.report import Violation


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    out = []
    for f in manifest.files:
        if escapes_root(f.path):
            out.append(Violation("symlink", f"path {f.path!r} leaves the repo folder"))
        elif f.kind == "symlink":
            out.append(Violation("symlink", f"{f.path} is a symlink (to {f.target!r})"))
        elif f.kind == "special":
            out.append(Violation("symlink", f"{f.path} is not a regular file (device, FIFO or socket)"))
    return out
