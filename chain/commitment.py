"""The on-chain commitment a miner publishes: `ORG/NAME:REVISION:HASH[:COMPETITION]`.

Chain storage for commitments is small (128 bytes here), so the format is a compact colon-separated string
rather than JSON. Parsing is strict and canonical (lowercase hex, no surrounding space): two miners committing
the same model must produce byte-identical strings, and `format(parse(s)) == s` for every accepted `s`, so
the raw on-chain text is always the identity of a commitment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 128
MAX_REPO_PART = 96
MAX_COMPETITION = 32

_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_REVISION = re.compile(r"[0-9a-f]{40}")
_HASH = re.compile(r"[0-9a-f]{64}")
_COMPETITION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class CommitmentError(ValueError):
    """A commitment that cannot be parsed or formatted; the message names the faulty part."""


@dataclass(frozen=True)
class Commitment:
    """A parsed commitment: which model revision a hotkey claims, with the content hash of its files."""

    org: str
    name: str
    revision: str
    content_hash: str
    competition: str | None = None

    def __post_init__(self) -> None:
        _check_repo_part("ORG", self.org)
        _check_repo_part("NAME", self.name)
        _check_hex("REVISION", self.revision, _REVISION, 40, "a full commit sha")
        _check_hex("HASH", self.content_hash, _HASH, 64, "a sha256 content hash")
        if self.competition is not None:
            _check_competition(self.competition)
        size = len(self.format().encode("utf-8"))
        if size > MAX_BYTES:
            raise CommitmentError(f"commitment is {size} bytes; the chain allows at most {MAX_BYTES}")

    @property
    def repo_id(self) -> str:
        return f"{self.org}/{self.name}"

    @property
    def model_ref(self) -> str:
        """The model reference of DESIGN.md, pinned to the committed revision."""
        return f"hf://{self.repo_id}@{self.revision}"

    def format(self) -> str:
        parts = [self.repo_id, self.revision, self.content_hash]
        if self.competition is not None:
            parts.append(self.competition)
        return ":".join(parts)

    def __str__(self) -> str:
        return self.format()


def _describe(value: str) -> str:
    shown = value if len(value) <= 48 else value[:45] + "..."
    return repr(shown)


def _check_repo_part(label: str, value: str) -> None:
    if not value:
        raise CommitmentError(f"{label} is empty")
    if len(value) > MAX_REPO_PART:
        raise CommitmentError(f"{label} is {len(value)} characters; Hugging Face allows at most {MAX_REPO_PART}")
    if not _REPO_PART.fullmatch(value):
        raise CommitmentError(
            f"{label} {_describe(value)} is not a Hugging Face name: use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    if "--" in value or ".." in value:
        raise CommitmentError(f"{label} {_describe(value)} contains '--' or '..', which Hugging Face forbids")


def _check_hex(label: str, value: str, pattern: re.Pattern[str], length: int, what: str) -> None:
    if not pattern.fullmatch(value):
        raise CommitmentError(f"{label} {_describe(value)} must be {what}: exactly {length} lowercase hex characters")


def _check_competition(value: str) -> None:
    if not value:
        raise CommitmentError("COMPETITION is empty; leave out the trailing ':' instead")
    if len(value) > MAX_COMPETITION or not _COMPETITION.fullmatch(value):
        raise CommitmentError(
            f"COMPETITION {_describe(value)} must be 1-{MAX_COMPETITION} letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )


def parse(raw: str) -> Commitment:
    """Parse the on-chain text; raise `CommitmentError` (never anything else) for anything malformed."""
    if not isinstance(raw, str):
        raise CommitmentError(f"commitment must be text, not {type(raw).__name__}")
    size = len(raw.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise CommitmentError(f"commitment is {size} bytes; the chain allows at most {MAX_BYTES}")
    if not raw:
        raise CommitmentError("commitment is empty")
    parts = raw.split(":")
    if len(parts) not in (3, 4):
        raise CommitmentError(
            f"commitment has {len(parts)} ':'-separated parts; expected ORG/NAME:REVISION:HASH[:COMPETITION]"
        )
    repo, revision, content_hash = parts[:3]
    if repo.count("/") != 1:
        raise CommitmentError(f"model {_describe(repo)} must be ORG/NAME with exactly one '/'")
    org, name = repo.split("/")
    competition = parts[3] if len(parts) == 4 else None
    return Commitment(org=org, name=name, revision=revision, content_hash=content_hash, competition=competition)


def format(repo_id: str, revision: str, content_hash: str, competition: str | None = None) -> str:
    """Build and validate the on-chain text from its parts."""
    if repo_id.count("/") != 1:
        raise CommitmentError(f"model {_describe(repo_id)} must be ORG/NAME with exactly one '/'")
    org, name = repo_id.split("/")
    return Commitment(org, name, revision, content_hash, competition).format()
