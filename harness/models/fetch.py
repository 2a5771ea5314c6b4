"""Pinned, verified model downloads into a size-budgeted cache with least-recently-used eviction.

`fetch_model` downloads exactly the files the policy allows (the caller passes `policies.download_files`)
of one commit, streams each through sha256, and accepts the result only if the salted content hash equals
the miner's commitment; on a mismatch the download is deleted. Layout under `models_dir`:

    <org>--<name>@<sha>/files/...   the model folder (what the sandbox mounts read-only)
    <org>--<name>@<sha>/meta.json   per-file sha256, bytes, last use (LRU order)

A cached model is reused for any commitment of the same repo@sha: the salted hash is recomputed from the
stored per-file digests, so a second hotkey claiming the same content is checked without a download (and a
mismatch leaves the verified copy in place).

A model folder without meta.json is a partial download and is removed. One file lock serialises fetches.

Bounds (a hostile Hub can lie about sizes, drip bytes or never stop): each file is streamed raw (never
content-decoded) and cut off the moment it passes its listed size, so no more bytes reach the disk than the
listing announced; the budget and the filesystem's free space are checked against the listed total before the
first byte; the whole model has one deadline.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from harness.errors import HarnessError
from harness.models.content_hash import check_hotkey, check_path, file_sha256, model_hash, salted_hash
from policies.config import HubConfig
from policies.deadline import deadline_at, extend_deadline
from policies.errors import CheckError, HubUnreachable
from policies.hub import HubAnswerError, HubClient
from policies.revision import is_commit_sha


class FetchError(HarnessError):
    """A model could not be fetched or failed verification."""


class HashMismatch(FetchError):
    """The files do not hash to the commitment: the miner's doing, so trying again changes nothing."""


class FetchUnreachable(FetchError):
    """The Hub did not answer (connection errors, timeouts, 5xx after every retry): ours or the network's
    trouble, not the model's, so the same model may be fetched next time."""


@dataclass
class CachedModel:
    key: str
    root: Path
    bytes: int
    last_used: float


def _key(repo_id: str, revision: str) -> str:
    return repo_id.replace("/", "--") + "@" + revision


def cached_models(models_dir: Path) -> list[CachedModel]:
    """Complete models in the cache, least recently used first."""
    out = []
    if not models_dir.is_dir():
        return out
    for entry in models_dir.iterdir():
        meta = entry / "meta.json"
        if not entry.is_dir() or not meta.is_file():
            continue
        try:
            doc = json.loads(meta.read_text())
            out.append(CachedModel(entry.name, entry, int(doc["bytes"]), float(doc["last_used"])))
        except (ValueError, KeyError, OSError):
            continue
    return sorted(out, key=lambda m: (m.last_used, m.key))


def _remove_partials(models_dir: Path) -> None:
    for entry in models_dir.iterdir():
        if entry.is_dir() and not (entry / "meta.json").is_file():
            shutil.rmtree(entry, ignore_errors=True)


def _make_room(models_dir: Path, needed: int, budget: int, keep: str) -> None:
    """Evict least recently used models until `needed` more bytes fit in `budget`."""
    if needed > budget:
        raise FetchError(f"model needs {needed:,} bytes, more than the cache budget of {budget:,}")
    models = [m for m in cached_models(models_dir) if m.key != keep]
    used = sum(m.bytes for m in models)
    for model in models:
        if used + needed <= budget:
            break
        shutil.rmtree(model.root, ignore_errors=True)
        used -= model.bytes


def _write_meta(root: Path, digests: dict[str, str], size: int) -> None:
    doc = {"digests": dict(sorted(digests.items())), "bytes": size, "last_used": time.time()}
    tmp = root / "meta.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, root / "meta.json")


def _cached_digests(root: Path) -> dict[str, str] | None:
    try:
        doc = json.loads((root / "meta.json").read_text())
        digests, size = doc["digests"], int(doc["bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(digests, dict):
        return None
    _write_meta(root, digests, size)  # last use, for LRU
    return digests


def fetch_model(
    repo_id: str,
    revision: str,
    files: Sequence[str],
    hotkey: str,
    expected_hash: str,
    *,
    models_dir: str | os.PathLike[str],
    budget_bytes: int,
    hub: HubConfig | None = None,
    deadline_s: float = 3600.0,
    min_free_bytes: int = 0,
) -> Path:
    """Download `files` of `repo_id` at commit `revision`, verify the salted hash, return the model folder."""
    if not is_commit_sha(revision):
        raise FetchError(f"revision {revision!r} is not a full commit sha")
    if not files:
        raise FetchError("no files to fetch")
    check_hotkey(hotkey)
    for path in files:
        check_path(path)
    base = Path(models_dir)
    base.mkdir(parents=True, exist_ok=True)
    key = _key(repo_id, revision)
    root = base / key
    with FileLock(str(base / ".lock")):
        _remove_partials(base)
        cached = _cached_digests(root) if (root / "meta.json").is_file() else None
        if cached is not None and sorted(cached) == sorted(files):
            actual = salted_hash(cached, hotkey)
            if actual != expected_hash:
                raise HashMismatch(
                    f"content hash mismatch for {repo_id}@{revision}: committed {expected_hash}, "
                    f"content hashes to {actual} for this hotkey"
                )
            return root / "files"
        if root.exists():
            shutil.rmtree(root)
        try:
            with HubClient(hub) as client:
                sizes = pinned_sizes(client, repo_id, revision, files)
                needed = sum(sizes.values())
                _make_room(base, needed, budget_bytes, keep=key)
                check_free_space(base, needed, min_free_bytes)
                deadline = time.monotonic() + deadline_s
                digests = _download_all(client, repo_id, revision, files, sizes, root / "files", deadline)
        except CheckError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise (FetchUnreachable if isinstance(exc, HubUnreachable) else FetchError)(str(exc)) from None
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        actual = salted_hash(digests, hotkey)
        if actual != expected_hash:
            shutil.rmtree(root, ignore_errors=True)
            raise HashMismatch(
                f"content hash mismatch for {repo_id}@{revision}: committed {expected_hash}, downloaded {actual}; "
                "download removed"
            )
        _write_meta(root, digests, needed)
        return root / "files"


def pinned_sizes(client, repo_id: str, revision: str, files: Sequence[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Sizes of `files` at exactly commit `revision`, as the Hub lists them; a moved ref or a missing file fails."""
    sha, entries = client.model_info(repo_id, revision)
    if sha != revision:
        raise FetchError(f"the Hub resolved {revision} to {sha}")
    sizes = {e.path: e.size for e in entries}
    missing = sorted(set(files) - set(sizes))
    if missing:
        raise FetchError(f"{repo_id}@{revision} lacks file(s): {', '.join(missing[:5])}")
    return {path: sizes[path] for path in files}


def check_free_space(folder: Path, needed: int, keep_free: int) -> None:
    """The listed bytes must fit on the filesystem with `keep_free` to spare, before anything is written."""
    free = shutil.disk_usage(folder).free
    if needed + keep_free > free:
        raise FetchError(f"model needs {needed:,} bytes but {folder} has {free:,} free (keeping {keep_free:,})")


def download_pinned(  # type: ignore[no-untyped-def]
    client, repo_id: str, revision: str, files: Sequence[str], dest: Path, deadline_s: float = 3600.0
) -> dict[str, str]:
    """Download `files` at commit `revision` into `dest`, each streamed through sha256; returns path -> digest.

    No hash check against a commitment: `fetch_model` adds that (and the cache); selftest, which has no
    commitment yet, uses this directly.
    """
    sizes = pinned_sizes(client, repo_id, revision, files)
    dest.mkdir(parents=True, exist_ok=True)
    check_free_space(dest, sum(sizes.values()), 0)
    return _download_all(client, repo_id, revision, files, sizes, dest, time.monotonic() + deadline_s)


def _download_all(client, repo_id, revision, files, sizes, dest: Path, deadline: float) -> dict[str, str]:  # type: ignore[no-untyped-def]
    digests = {}
    for path in sorted(files):
        target = dest / path
        try:
            if not target.resolve().is_relative_to(dest.resolve()):
                raise FetchError(f"file path {_shown(path)!r} leaves the model folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            size, digest = _download(client, repo_id, revision, path, target, sizes[path], deadline)
        except OSError as exc:  # a name this filesystem cannot hold: the policy's `names` rule should have said so
            raise FetchError(f"cannot write {_shown(path)}: {exc.strerror or type(exc).__name__}") from None
        if size != sizes[path]:
            raise FetchError(f"{path}: downloaded {size} bytes, the Hub lists {sizes[path]}")
        digests[path] = digest
    return digests


def _shown(path: str) -> str:
    return path if len(path) <= 80 else f"{path[:80]}... ({len(path):,} characters)"


def _download(client, repo_id: str, revision: str, path: str, dest: Path, listed: int, deadline: float):  # type: ignore[no-untyped-def]
    """Stream one file to `dest` through sha256 (rewritten from scratch on each retry); (bytes, hex digest).
    The body is cut off as soon as it passes the listed size or the model's deadline."""
    url = client.file_url(repo_id, revision, path)
    what = f"{repo_id}/{path}"

    def call() -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        # The status line and headers must arrive within one request's deadline, the body within the model's:
        # a server dripping either one byte at a time cannot stretch them (`policies.deadline`).
        head_by = min(time.monotonic() + client.config.request_deadline_s, deadline)
        with deadline_at(head_by, what), client.file_stream(url, what) as response, open(dest, "wb") as fh:
            extend_deadline(deadline)
            client.raise_for(response, what)
            for chunk in client.body_chunks(response, what, listed, deadline):
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    try:
        return client.retrying(what, call)
    except HubAnswerError as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(str(exc)) from None


def fetched_digests(model_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Per-file sha256 of a model that `fetch_model` verified (read from its meta.json, no re-hashing)."""
    meta = Path(model_dir).parent / "meta.json"
    try:
        digests = json.loads(meta.read_text())["digests"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"{model_dir} is not a verified download: {exc}") from None
    if not isinstance(digests, dict) or not digests:
        raise FetchError(f"{model_dir} is not a verified download: no digests")
    return {str(k): str(v) for k, v in digests.items()}


def verify_local_model(path: str | os.PathLike[str], files: Sequence[str], hotkey: str, expected_hash: str) -> Path:
    """A local folder used as a reference (selftest, demos): the same hash check, no copy."""
    root = Path(path)
    if not root.is_dir():
        raise FetchError(f"no such model folder: {root}")
    actual = model_hash(root, files, hotkey)
    if actual != expected_hash:
        raise HashMismatch(f"content hash mismatch for {root}: expected {expected_hash}, found {actual}")
    return root


def fetch(ref, files: Sequence[str], hotkey: str, expected_hash: str, settings) -> Path:  # type: ignore[no-untyped-def]
    """Dispatch a `ModelRef`: Hub references (pinned sha required) are fetched, local folders verified."""
    if not ref.is_hub:
        return verify_local_model(ref.path, files, hotkey, expected_hash)
    models_dir = settings.paths.models
    return fetch_model(
        ref.repo_id,
        ref.revision or "",
        files,
        hotkey,
        expected_hash,
        models_dir=models_dir,
        budget_bytes=settings.fetch.budget_bytes,
        hub=settings.hub,
        deadline_s=settings.fetch.model_deadline_s,
        min_free_bytes=settings.fetch.min_free_bytes,
    )


__all__ = [
    "CachedModel",
    "FetchError",
    "FetchUnreachable",
    "HashMismatch",
    "cached_models",
    "fetch",
    "fetch_model",
    "file_sha256",
    "verify_local_model",
]
