"""The commitment HASH: a content hash of a model's files, salted with the miner's hotkey.

Byte layout (version 1), hashed with sha256 and written as 64 lower-case hex characters:

    b"subnet-harness/content-hash/v1\\n"
    + hotkey (UTF-8) + b"\\n"
    + for each file, sorted by the UTF-8 bytes of its path:
          path (UTF-8, repo-relative, '/'-separated) + b"\\t" + sha256(file bytes) as 64 hex chars + b"\\n"

The file list is exactly what the policy allows a fetch to download (`policies.download_files`), nothing is
skipped silently: every listed file must exist and be a regular file. The salt makes the same weights
committed by another hotkey hash differently, so a copier cannot reuse an earlier commitment's HASH.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

import policies
from harness.errors import HarnessError

PREFIX = b"subnet-harness/content-hash/v1\n"
CHUNK = 4 * 1024 * 1024


class ContentHashError(HarnessError):
    """The hash cannot be computed (missing file, bad path, empty list)."""


def check_path(path: str) -> None:
    """A repo-relative POSIX path that the byte layout can carry unambiguously."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or any(c in path for c in "\t\n\r\\\0")
    ):
        raise ContentHashError(f"invalid file path for the content hash: {path!r}")


class NotRegularFile(OSError):
    """What was opened is a folder, FIFO, device or socket, not a file's bytes."""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """A regular file opened for reading without following a symlink, and checked to be regular on the open
    descriptor (the path may be swapped for a link or a FIFO between listing and opening). Raises `OSError`
    (`NotRegularFile` for what is not a file); callers word it for their own failure."""
    fh = os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise NotRegularFile(f"{path} is not a regular file")
    return fh


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a regular file, opened without following symlinks."""
    try:
        fh = open_regular(path)
    except NotRegularFile as exc:
        raise ContentHashError(str(exc)) from None
    except OSError as exc:
        raise ContentHashError(f"cannot read {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256()
    with fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_hotkey(hotkey: str) -> None:
    if not hotkey or "\n" in hotkey:
        raise ContentHashError("the hotkey salt must be a non-empty single line")


def salted_hash(digests: Mapping[str, str], hotkey: str) -> str:
    """The commitment HASH from per-file sha256 hex digests (path -> digest)."""
    check_hotkey(hotkey)
    if not digests:
        raise ContentHashError("no files to hash")
    h = hashlib.sha256(PREFIX + hotkey.encode("utf-8") + b"\n")
    for path in sorted(digests, key=lambda p: p.encode("utf-8")):
        check_path(path)
        digest = digests[path]
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ContentHashError(f"{path}: not a sha256 hex digest: {digest!r}")
        h.update(path.encode("utf-8") + b"\t" + digest.encode("ascii") + b"\n")
    return h.hexdigest()


def model_hash(root: str | os.PathLike[str], files: Iterable[str], hotkey: str) -> str:
    """HASH of `files` (repo-relative) under `root`."""
    base = Path(root)
    digests = {}
    for path in files:
        check_path(path)
        digests[path] = file_sha256(base / path)
    return salted_hash(digests, hotkey)


def local_model_hash(root: str | os.PathLike[str], hotkey: str, policy=None) -> str:  # type: ignore[no-untyped-def]
    """HASH of a local model folder over the files policy allows: what a miner commits."""

    try:
        manifest = policies.build_local_manifest(root, policy)
    except policies.CheckError as exc:
        raise ContentHashError(str(exc)) from None
    return model_hash(root, policies.download_files(manifest, policy), hotkey)


IDENTITY_PREFIX = b"subnet-harness/content-identity/v1\n"


def content_identity(digests: Mapping[str, str]) -> str:
    """The unsalted identity of a model's content: equal for copies whatever hotkey committed them.

    Same layout as `salted_hash` without the hotkey line, so copies committed by different miners (each with a
    valid salted HASH of its own) are recognised as the same weights and only the earliest block is rewarded.
    """
    if not digests:
        raise ContentHashError("no files to hash")
    h = hashlib.sha256(IDENTITY_PREFIX)
    for path in sorted(digests, key=lambda p: p.encode("utf-8")):
        check_path(path)
        h.update(path.encode("utf-8") + b"\t" + digests[path].encode("ascii") + b"\n")
    return h.hexdigest()
