"""A local stand-in for the Hugging Face Hub, for tests (the real Hub is unreachable here).

It serves model folders (or in-memory files) the way the Hub does for the calls the harness and
`huggingface_hub` make:
- `GET /api/models/ORG/NAME[/revision/REV]`: model info with `sha` and `siblings` (`rfilename`, `size`,
  `blobId`), like the Hub with `?blobs=true`;
- `HEAD`/`GET /ORG/NAME/resolve/REV/PATH`: the file, with `Range` support (206 + Content-Range, 416), and
  the headers huggingface_hub reads (`X-Repo-Commit`, `ETag`, `Content-Length`, `Accept-Ranges`);
- `GET /api/models/ORG/NAME/tree/REV[/PATH][?recursive=true]`: the tree listing `snapshot_download` uses;
- 404s carrying the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`).

Use: `with HubServer() as hub: sha = hub.add_repo("org/name", folder); ... hub.url ...`. Every request is
recorded in `hub.requests` (method, path, Range header, bytes sent) so tests can prove what was read;
`hub.fail_next(n)` answers the next n requests with 503 to exercise retries; `hub.honour_range = False`
makes it ignore Range headers. Binds 127.0.0.1 on a random port.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHUNK = 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int


@dataclass
class _Revision:
    sha: str
    files: dict[str, bytes | Path]

    def size(self, name: str) -> int:
        item = self.files[name]
        return len(item) if isinstance(item, bytes) else item.stat().st_size


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, _Revision]] = {}  # repo -> {sha or branch: revision}
        self.requests: list[Request] = []
        self._fail = 0
        self._fail_status = 503
        self.honour_range = True  # False emulates a server/CDN that ignores Range and sends the whole file
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle
    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hubserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # content
    def add_repo(
        self,
        repo_id: str,
        folder: str | os.PathLike[str] | None = None,
        files: dict[str, bytes | Path] | None = None,
        branch: str = "main",
    ) -> str:
        """Publish a new revision of `repo_id` (folder and/or in-memory files); `branch` then points at it.

        Returns the commit sha. Symlinks in the folder are skipped: the Hub has none.
        """
        content: dict[str, bytes | Path] = {}
        if folder is not None:
            root = Path(folder)
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root).as_posix()
                if path.is_file() and not path.is_symlink() and not rel.startswith(".git/"):
                    content[rel] = path
        content.update(files or {})
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(content):
            item = content[name]
            digest.update(name.encode() + b"\0" + (item if isinstance(item, bytes) else str(item.stat()).encode()))
        sha = digest.hexdigest()
        revision = _Revision(sha, content)
        with self._lock:
            revs = self.repos.setdefault(repo_id, {})
            revs[sha] = revision
            revs[branch] = revision
        return sha

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._fail, self._fail_status = n, status

    def _take_failure(self) -> int | None:
        with self._lock:
            if self._fail > 0:
                self._fail -= 1
                return self._fail_status
        return None

    def downloads_of(self, name: str) -> list[Request]:
        """GET requests for a file path (any repo), for asserting what a client fetched."""
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(name)]


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet in tests
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes; without NODELAY, Nagle + delayed ACK add ~40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        sent = 0
        status = 500
        try:
            failure = self.hub._take_failure()
            if failure:
                status = self._send(failure, b'{"error": "injected failure"}', head=head)
                return
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                status = self._model_info(parts[2:], head)
            elif len(parts) >= 5 and parts[2] == "resolve":
                status, sent = self._resolve(parts, head)
            else:
                status = self._send(404, b'{"error": "not found"}', head=head)
        finally:
            self.hub.requests.append(Request(self.command, self.path, self.headers.get("range"), status, sent))

    def _send(self, status: int, body: bytes, head: bool, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return status

    def _lookup(self, repo: str, rev: str, head: bool) -> _Revision | int:
        revs = self.hub.repos.get(repo)
        if revs is None:
            return self._send(404, b'{"error": "Repository not found"}', head, {"X-Error-Code": "RepoNotFound"})
        if rev not in revs:
            msg = b'{"error": "Invalid rev id"}'
            return self._send(404, msg, head, {"X-Error-Code": "RevisionNotFound"})
        return revs[rev]

    def _model_info(self, rest: list[str], head: bool) -> int:
        repo = "/".join(rest[:2])
        if len(rest) > 3 and rest[2] == "tree":
            return self._tree(repo, rest[3], "/".join(rest[4:]), head)
        rev = "/".join(rest[3:]) if len(rest) > 3 and rest[2] == "revision" else "main"
        found = self._lookup(repo, rev, head)
        if isinstance(found, int):
            return found
        siblings = [
            {"rfilename": name, "size": found.size(name), "blobId": hashlib.sha1(name.encode()).hexdigest()}
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
                entries.setdefault(
                    sub, {"type": "directory", "path": sub, "oid": hashlib.sha1(sub.encode()).hexdigest()}
                )
            if len(parts) == 1 or recursive:
                oid = hashlib.sha1(name.encode()).hexdigest()
                entries[name] = {"type": "file", "path": name, "size": found.size(name), "oid": oid}
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
        size = found.size(name)
        etag = '"' + hashlib.sha1(f"{found.sha}/{name}/{size}".encode()).hexdigest() + '"'
        headers = {"X-Repo-Commit": found.sha, "ETag": etag, "Accept-Ranges": "bytes"}
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
        item = found.files[name]
        if isinstance(item, bytes):
            self.wfile.write(item[start : start + length])
            return status, length
        sent = 0
        with open(item, "rb") as fh:
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
