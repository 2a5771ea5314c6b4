"""Model references: `hf://ORG/NAME@REVISION` (Hub) or a local folder path.

Anything from chain must pin a full 40-hex commit sha (`require_sha=True`); `harness check` accepts a
branch or tag, or no revision (main). Errors are `ModelRefError`: one line, exit code 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from policies.revision import is_commit_sha

SCHEME = "hf://"
# The Hub's own rules for names: letters, digits, '-', '_', '.', not starting/ending with '-' or '.', no '--'/'..'.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
REVISION_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


class ModelRefError(HarnessError):
    """A model reference that cannot be used."""


@dataclass(frozen=True)
class ModelRef:
    repo_id: str | None = None
    revision: str | None = None
    path: Path | None = None

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None

    def __str__(self) -> str:
        if self.repo_id is None:
            return str(self.path)
        return f"{SCHEME}{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


def parse_model_ref(text: str, *, require_sha: bool = False) -> ModelRef:
    """Parse a reference; `require_sha` demands a Hub reference pinned to a full commit sha."""
    text = text.strip()
    if not text:
        raise ModelRefError("empty model reference")
    if not text.startswith(SCHEME):
        if require_sha:
            raise ModelRefError(f"{text!r}: a pinned Hub reference hf://ORG/NAME@SHA is required here")
        return ModelRef(path=Path(text).expanduser())
    body = text[len(SCHEME) :]
    repo_id, sep, revision = body.partition("@")
    if sep and not revision:
        raise ModelRefError(f"{text!r}: empty revision after '@'")
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise ModelRefError(f"{text!r}: expected hf://ORG/NAME[@REVISION]")
    for part in parts:
        if not NAME_RE.match(part) or "--" in part or ".." in part:
            raise ModelRefError(f"{text!r}: {part!r} is not a valid Hub name")
    if revision and (not REVISION_RE.match(revision) or ".." in revision or revision.startswith("/")):
        raise ModelRefError(f"{text!r}: {revision!r} is not a valid revision")
    if require_sha and not (revision and is_commit_sha(revision)):
        raise ModelRefError(f"{text!r}: the revision must be a full 40-character commit sha")
    return ModelRef(repo_id=repo_id, revision=revision or None)
