"""The on-chain commitment a miner publishes: `ORG/NAME:REVISION:HASH[:COMPETITION]`.

Chain storage for commitments is small (128 bytes here), so the format is a compact colon-separated string
rather than JSON. On chain, HASH is the 32-byte content digest as unpadded base64url (43 characters) rather
than 64 hex: that leaves 43 bytes for ORG/NAME (and the competition) instead of 22. In memory,
`Commitment.content_hash` stays the 64 lowercase hex characters that `harness.models.content_hash` and the fetch
compare. `parse` also accepts the 64-hex form for compatibility; `format` always writes base64url, so
`format(parse(s))` is the canonical text and `parse(format(c)) == c`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

MAX_BYTES = 128
MAX_REPO_PART = 96
MAX_COMPETITION = 32
HASH_B64_LEN = 43  # unpadded base64url of 32 bytes
# ORG/NAME bytes left beside ':' + 40-hex REVISION + ':' + base64url HASH (each ':COMPETITION' takes its share)
MAX_REPO_ID = MAX_BYTES - (1 + 40 + 1 + HASH_B64_LEN)

_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_REVISION = re.compile(r"[0-9a-f]{40}")  # the wire format's own copy of policies.revision: chain imports no policies
_HASH = re.compile(r"[0-9a-f]{64}")
_HASH_B64 = re.compile(r"[A-Za-z0-9_-]{43}")
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

    @property
    def hash_b64(self) -> str:
        """HASH as it goes on chain: unpadded base64url of the 32-byte digest."""
        return hash_to_b64(self.content_hash)

    def format(self) -> str:
        parts = [self.repo_id, self.revision, self.hash_b64]
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


def hash_to_b64(hex_digest: str) -> str:
    """64 lowercase hex characters -> the 43-character unpadded base64url form."""
    _check_hex("HASH", hex_digest, _HASH, 64, "a sha256 content hash")
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).decode("ascii").rstrip("=")


def hash_to_hex(text: str) -> str:
    """A HASH as committed (43-char base64url, canonical; or 64 lowercase hex) -> 64 lowercase hex characters."""
    if _HASH.fullmatch(text):
        return text
    if not _HASH_B64.fullmatch(text):
        raise CommitmentError(
            f"HASH {_describe(text)} must be the sha256 content hash as {HASH_B64_LEN} unpadded base64url "
            "characters (or 64 lowercase hex characters)"
        )
    try:
        raw = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern admits only decodable text
        raise CommitmentError(f"HASH {_describe(text)} is not valid base64url") from None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text:
        # 43 characters carry 258 bits; the last 2 must be zero, else two texts would name one digest
        raise CommitmentError(f"HASH {_describe(text)} is not canonical base64url (its last character has stray bits)")
    return raw.hex()


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
    _check_repo_part("ORG", org)
    _check_repo_part("NAME", name)
    _check_hex("REVISION", revision, _REVISION, 40, "a full commit sha")
    return Commitment(org, name, revision, hash_to_hex(content_hash), competition)


def format(repo_id: str, revision: str, content_hash: str, competition: str | None = None) -> str:
    """Build and validate the on-chain text from its parts; `content_hash` may be hex or base64url."""
    if repo_id.count("/") != 1:
        raise CommitmentError(f"model {_describe(repo_id)} must be ORG/NAME with exactly one '/'")
    org, name = repo_id.split("/")
    return Commitment(org, name, revision, hash_to_hex(content_hash), competition).format()
