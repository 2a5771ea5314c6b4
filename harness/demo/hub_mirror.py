"""A small read-only Hugging Face Hub-compatible HTTP server: for air-gapped validators, demos and tests.

It answers exactly the calls the harness (`policies.hub.HubClient`, `harness.models.fetch`) and `huggingface_hub`
make:
- `GET /api/models/ORG/NAME[/revision/REV]`: model info with `sha` and `siblings` (`rfilename`, `size`,
  `blobId`), like the Hub with `?blobs=true`;
- `HEAD`/`GET /ORG/NAME/resolve/REV/PATH`: the file, with `Range` support (206 + Content-Range, 416), and
  the headers huggingface_hub reads (`X-Repo-Commit`, `ETag`, `Content-Length`, `Accept-Ranges`);
- `GET /api/models/ORG/NAME/tree/REV[/PATH][?recursive=true]`: the tree listing `snapshot_download` uses;
- 404s carrying the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`).

`MirrorServer(root)` serves a directory tree `ROOT/ORG/NAME/REVISION/<files>` (REVISION a 40-hex sha), with
branches as `ROOT/ORG/NAME/refs/BRANCH` files holding a sha. `publish()` fills it (content-addressed, so
publishing the same folder twice is a no-op). `harness hub serve` / `harness hub publish` drive it.
`HubHTTPServer` is the protocol over any `lookup()`; its no-op hooks (`_started`, `_record`, `_finished`,
`_take_failure`, `honour_range`) let the test Hub (`tests/support/hubserver.py`: in-memory repos, a request log,
failure injection, a server that ignores Range) reuse it without the product carrying any of that.

Only files found in a revision's listing are ever served (no path from a URL reaches the filesystem), and
symlinks are neither listed nor followed. Nothing is ever written by a request. The server is a
`harness.views.bounded_http.BoundedHTTPServer`: a client that connects and says nothing, drips its request or
sends a huge one holds no thread past the head deadline (docs/security.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.errors import HarnessError
from harness.models.content_hash import check_path, file_sha256
from harness.views.bounded_http import BoundedHTTPServer, BoundedRequestHandler
from policies.revision import is_commit_sha

CHUNK = 1024 * 1024
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_BRANCH = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
REVISION_PREFIX = b"subnet-harness/mirror-revision/v1\n"


class MirrorError(HarnessError):
    """A mirror operation failed (bad repo id, unreadable folder, ...)."""


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int


@dataclass
class Revision:
    """One immutable snapshot: its commit sha and its files (in-memory bytes or a path on disk)."""

    sha: str
    files: dict[str, bytes | Path]

    def size(self, name: str) -> int:
        item = self.files[name]
        return len(item) if isinstance(item, bytes) else item.stat().st_size


class RepoNotFound(LookupError):
    pass


class RevisionNotFound(LookupError):
    pass


def check_repo_id(repo_id: str) -> tuple[str, str]:
    """ORG/NAME with Hugging Face's name rules (which also keeps every path inside the mirror root)."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(
        _REPO_PART.fullmatch(p) and "--" not in p and ".." not in p and len(p) <= 96 for p in parts
    ):
        raise MirrorError(f"repo id {repo_id!r} must be ORG/NAME (letters, digits, '-', '_', '.')")
    return parts[0], parts[1]


# -- the HTTP server, independent of where content comes from ----------------------------------------------------


class HubHTTPServer:
    """Serves the Hub API over `lookup()`; subclasses say where repos live. Binds `host:port` (0 = any free)."""

    honour_range = True  # an instrumented test server may turn it off to play a CDN that ignores Range
    # Bounds against clients that hold connections open (harness.views.bounded_http); set before `bind()`.
    max_connections = 64
    idle_timeout_s = 30.0  # a download client silent this long (between reads of a big file) is dropped
    header_timeout_s = 10.0
    max_header_bytes = 16 * 1024  # a file path of the policy's longest is far shorter, URL-encoded or not

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._httpd: BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def lookup(self, repo_id: str, revision: str) -> Revision:
        """The snapshot for a sha or branch; raises `RepoNotFound` / `RevisionNotFound`."""
        raise NotImplementedError

    # lifecycle
    def bind(self) -> HubHTTPServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = BoundedHTTPServer(
            (self.host, self.port),
            handler,
            max_connections=self.max_connections,
            idle_timeout_s=self.idle_timeout_s,
            header_timeout_s=self.header_timeout_s,
            max_header_bytes=self.max_header_bytes,
        )
        self.port = self._httpd.server_address[1]
        return self

    def start(self) -> HubHTTPServer:
        """Serve from a background thread (tests, embedding)."""
        if self._httpd is None:
            self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hubmirror", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (`harness hub serve`)."""
        if self._httpd is None:
            self.bind()
        assert self._httpd is not None
        try:
            self._httpd.serve_forever(0.5)
        finally:
            self._httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # Hooks around each request, no-ops here: the product neither logs requests nor fails them on purpose.
    def _take_failure(self) -> int | None:
        """A status to answer this request with instead of serving it (failure injection), or None."""
        return None

    def _started(self) -> None:
        """A handler began a request."""

    def _record(self, request: Request) -> None:
        """A request was answered (or is about to be answered with an injected failure)."""

    def _finished(self) -> None:
        """A handler is done with its request, record included."""


class MirrorServer(HubHTTPServer):
    """Serves a mirror directory (`ROOT/ORG/NAME/SHA/...`, `ROOT/ORG/NAME/refs/BRANCH`), read-only."""

    def __init__(self, root: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.root = Path(root)
        self._cache: dict[tuple[str, str], Revision] = {}  # revisions are immutable: list each once

    def lookup(self, repo_id: str, revision: str) -> Revision:
        try:
            check_repo_id(repo_id)
        except MirrorError:
            raise RepoNotFound(repo_id) from None
        base = self.root / repo_id
        if not base.is_dir() or base.is_symlink():
            raise RepoNotFound(repo_id)
        sha = resolve_revision(self.root, repo_id, revision)
        if sha is None:
            raise RevisionNotFound(revision)
        with self._lock:
            cached = self._cache.get((repo_id, sha))
        if cached is None:
            cached = Revision(sha, dict(folder_files(base / sha)))
            with self._lock:
                self._cache[(repo_id, sha)] = cached
        return cached


# -- the mirror directory ----------------------------------------------------------------------------------------


def folder_files(root: Path) -> list[tuple[str, Path]]:
    """Regular files under `root` (repo-relative POSIX paths), sorted; symlinks and `.git/` left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink() and not (here == root and d == ".git"))
        for name in filenames:
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):
                out.append((path.relative_to(root).as_posix(), path))
    return sorted(out)


def resolve_revision(root: str | os.PathLike[str], repo_id: str, revision: str) -> str | None:
    """A 40-hex sha present in the mirror, or the sha a branch file names; None if neither exists."""
    base = Path(root) / repo_id
    if is_commit_sha(revision):
        target = base / revision
        return revision if target.is_dir() and not target.is_symlink() else None
    if not _BRANCH.fullmatch(revision) or ".." in revision:
        return None
    try:
        sha = (base / "refs" / revision).read_text().strip()
    except OSError:
        return None
    return sha if is_commit_sha(sha) and (base / sha).is_dir() else None


def revision_sha(digests: dict[str, str]) -> str:
    """Deterministic 40-hex revision of a file set: sha256 over sorted `path\\tsha256\\n` lines, cut to 40."""
    h = hashlib.sha256(REVISION_PREFIX)
    for path in sorted(digests, key=lambda p: p.encode("utf-8")):
        h.update(path.encode("utf-8") + b"\t" + digests[path].encode("ascii") + b"\n")
    return h.hexdigest()[:40]


@dataclass(frozen=True)
class Published:
    repo_id: str
    sha: str
    path: Path
    created: bool  # False: that exact content was already in the mirror
    digests: dict[str, str] = field(default_factory=dict)  # path -> sha256 hex, for content hashes without a re-read

    @property
    def ref(self) -> str:
        return f"hf://{self.repo_id}@{self.sha}"


def publish(
    folder: str | os.PathLike[str],
    repo_id: str,
    root: str | os.PathLike[str],
    *,
    branch: str = "main",
    link: bool = False,
) -> Published:
    """Copy a model folder into the mirror under its content-derived revision; `branch` then points at it.

    `link=True` hardlinks instead of copying where the filesystem allows (for immutable sources such as the
    bundled models): the mirror then shares their bytes, so the source must never be edited in place.
    Symlinks in the folder are an error (the Hub has none, and following them could publish anything).
    """
    check_repo_id(repo_id)
    if not _BRANCH.fullmatch(branch) or ".." in branch:
        raise MirrorError(f"branch {branch!r} must be letters, digits, '-', '_' or '.'")
    src = Path(folder)
    if not src.is_dir():
        raise MirrorError(f"no such model folder: {src}")
    links = [p for p in src.rglob("*") if p.is_symlink()]
    if links:
        raise MirrorError(f"{src} contains symlinks ({links[0].relative_to(src)}); the Hub has none")
    files = folder_files(src)
    if not files:
        raise MirrorError(f"{src} has no files to publish")
    digests, inodes = {}, {}
    for rel, path in files:
        check_path(rel)
        inodes[rel] = _inode(path)
        digests[rel] = file_sha256(path)
    sha = revision_sha(digests)
    base = Path(root) / repo_id
    target = base / sha
    created = False
    base.mkdir(parents=True, exist_ok=True)
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=f".{sha}.", dir=base))
        try:
            for rel, path in files:
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                linked = _place(path, dest, link)
                placed = _inode(dest)  # never a link in the mirror: a regular file or an error
                # a hardlink must be the very file that was hashed, a copy must hash the same
                if (linked and placed != inodes[rel]) or (not linked and file_sha256(dest) != digests[rel]):
                    raise MirrorError(f"{path} changed while it was being published")
            try:
                staging.rename(target)
                created = True
            except OSError:
                if not target.is_dir():  # a concurrent publish of the same content won the rename
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    refs = base / "refs"
    refs.mkdir(exist_ok=True)
    tmp = refs / f".{branch}.tmp"
    tmp.write_text(sha + "\n")
    os.replace(tmp, refs / branch)
    return Published(repo_id, sha, target, created, digests)


def _inode(path: Path) -> tuple[int, int]:
    """(device, inode) of a regular file, never through a symlink; MirrorError for anything else."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise MirrorError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise MirrorError(f"{path} is not a regular file (symlinks are never published)")
    return info.st_dev, info.st_ino


def _place(src: Path, dest: Path, link: bool) -> bool:
    """Hardlink (when asked and possible; True) or copy (False: the copy is then checked against the digest)."""
    if link:
        try:
            os.link(src, dest, follow_symlinks=False)
            return True
        except OSError:
            pass
    shutil.copyfile(src, dest, follow_symlinks=False)
    return False


def mirror_repos(root: str | os.PathLike[str]) -> list[tuple[str, dict[str, str]]]:
    """(repo id, {branch: sha}) for every repo in the mirror, for listings."""
    base = Path(root)
    out = []
    for refs in sorted(base.glob("*/*/refs")):
        repo_id = refs.parent.relative_to(base).as_posix()
        branches = {}
        for ref in sorted(refs.iterdir()):
            if not ref.name.startswith("."):
                branches[ref.name] = ref.read_text().strip()
        out.append((repo_id, branches))
    return out


# -- HTTP handling ------------------------------------------------------------------------------------------------


class _Handler(BoundedRequestHandler):
    hub: HubHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive: huggingface_hub fetches many files; each head has its deadline
    server_version = "subnet-harness-hubmirror"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes; without NODELAY, Nagle + delayed ACK add ~40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        self.hub._started()
        try:
            self._answer(head)
        finally:
            self.hub._finished()

    def _answer(self, head: bool) -> None:
        sent = 0
        status = 500
        failure = self.hub._take_failure()
        if failure:
            # Recorded before the answer goes out: a client that gives up at once must find it already counted.
            self.hub._record(Request(self.command, self.path, self.headers.get("range"), failure, 0))
            self._send(failure, b'{"error": "injected failure"}', head=head)
            return
        try:
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                status = self._model_info(parts[2:], head)
            elif len(parts) >= 5 and parts[2] == "resolve":
                status, sent = self._resolve(parts, head)
            else:
                status = self._send(404, b'{"error": "not found"}', head=head)
        finally:
            self.hub._record(Request(self.command, self.path, self.headers.get("range"), status, sent))

    def _send(self, status: int, body: bytes, head: bool, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return status

    def _lookup(self, repo: str, rev: str, head: bool) -> Revision | int:
        try:
            return self.hub.lookup(repo, rev)
        except RepoNotFound:
            return self._send(404, b'{"error": "Repository not found"}', head, {"X-Error-Code": "RepoNotFound"})
        except RevisionNotFound:
            msg = b'{"error": "Invalid rev id"}'
            return self._send(404, msg, head, {"X-Error-Code": "RevisionNotFound"})

    def _model_info(self, rest: list[str], head: bool) -> int:
        repo = "/".join(rest[:2])
        if len(rest) > 3 and rest[2] == "tree":
            return self._tree(repo, rest[3], "/".join(rest[4:]), head)
        rev = "/".join(rest[3:]) if len(rest) > 3 and rest[2] == "revision" else "main"
        found = self._lookup(repo, rev, head)
        if isinstance(found, int):
            return found
        siblings = [
            {"rfilename": name, "size": found.size(name), "blobId": _oid(found.sha, name)}
            for name in sorted(found.files)
        ]
        body = {"id": repo, "modelId": repo, "sha": found.sha, "private": False, "siblings": siblings, "tags": []}
        return self._send(200, json.dumps(body).encode(), head)

    def _tree(self, repo: str, rev: str, folder: str, head: bool) -> int:
        """`/api/models/REPO/tree/REV[/PATH]?recursive=...` as huggingface_hub's list_repo_tree reads it."""
        found = self._lookup(repo, rev, head)
        if isinstance(found, int):
            return found
        recursive = "recursive=true" in urlsplit(self.path).query.lower()
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        entries: dict[str, dict] = {}
        for name in sorted(found.files):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                if depth > 1 and not recursive:
                    break
                sub = prefix + "/".join(parts[:depth])
                entries.setdefault(sub, {"type": "directory", "path": sub, "oid": _oid(found.sha, sub)})
            if len(parts) == 1 or recursive:
                entries[name] = {"type": "file", "path": name, "size": found.size(name), "oid": _oid(found.sha, name)}
        if prefix and not entries:
            return self._send(404, b'{"error": "Entry not found"}', head, {"X-Error-Code": "EntryNotFound"})
        return self._send(200, json.dumps(list(entries.values())).encode(), head)

    def _resolve(self, parts: list[str], head: bool) -> tuple[int, int]:
        repo, rev, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        found = self._lookup(repo, rev, head)
        if isinstance(found, int):
            return found, 0
        if name not in found.files:
            return self._send(404, b'{"error": "Entry not found"}', head, {"X-Error-Code": "EntryNotFound"}), 0
        item = found.files[name]
        try:
            fh = None if isinstance(item, bytes) else os.fdopen(os.open(item, os.O_RDONLY | os.O_NOFOLLOW), "rb")
        except OSError:
            return self._send(404, b'{"error": "Entry not found"}', head, {"X-Error-Code": "EntryNotFound"}), 0
        with fh if fh is not None else contextlib.nullcontext():
            size = len(item) if isinstance(item, bytes) else os.fstat(fh.fileno()).st_size  # type: ignore[union-attr]
            return self._send_file(found.sha, name, item, fh, size, head)

    def _send_file(self, sha: str, name: str, item, fh, size: int, head: bool) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        etag = '"' + hashlib.sha1(f"{sha}/{name}/{size}".encode()).hexdigest() + '"'
        headers = {"X-Repo-Commit": sha, "ETag": etag, "Accept-Ranges": "bytes"}
        start, end, status = 0, size - 1, 200
        wanted = self.headers.get("range")
        if wanted and self.hub.honour_range:
            parsed = _parse_range(wanted, size)
            if parsed is None:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(416, b"", head, headers), 0
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if head:
            return status, 0
        if isinstance(item, bytes):
            self.wfile.write(item[start : start + length])
            return status, length
        sent = 0
        fh.seek(start)
        try:
            while sent < length:
                chunk = fh.read(min(CHUNK, length - sent))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (a capped read): record what went out
        return status, sent


def _oid(sha: str, name: str) -> str:
    """An opaque, stable object id per (revision, path): our clients only compare it, never recompute it."""
    return hashlib.sha1(f"{sha}\0{name}".encode()).hexdigest()


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", value.strip())
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:
        n = int(match[2])
        return (max(0, size - n), size - 1) if n and size else None
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or end < start:
        return None
    return start, end


__all__ = [
    "HubHTTPServer",
    "MirrorError",
    "MirrorServer",
    "Published",
    "RepoNotFound",
    "Request",
    "Revision",
    "RevisionNotFound",
    "check_repo_id",
    "folder_files",
    "mirror_repos",
    "publish",
    "resolve_revision",
    "revision_sha",
]
