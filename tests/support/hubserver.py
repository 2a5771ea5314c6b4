"""Test Hubs over the product's Hub protocol (`harness.demo.hub_mirror.HubHTTPServer`), with test controls.

- `HubServer()`: in-memory repos (`with HubServer() as hub: sha = hub.add_repo("org/name", folder)`).
- `RecordingMirrorServer(root)`: the product's `MirrorServer` over a mirror directory, instrumented the same way.

Both record every request in `hub.requests` (method, path, Range header, bytes sent); `hub.fail_next(n)`
answers the next n requests with 503 (or `status`); `hub.honour_range = False` makes them ignore Range headers.
They bind 127.0.0.1 on a random port. The product server has only no-op hooks for these; the controls live here
so that `harness hub serve` carries no failure injection.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from harness.demo.hub_mirror import (
    HubHTTPServer,
    MirrorServer,
    RepoNotFound,
    Request,
    Revision,
    RevisionNotFound,
    folder_files,
)


class Instrumented(HubHTTPServer):
    """A request log, failure injection and a Range switch over any Hub server (put it first in the bases)."""

    max_logged_requests = 10_000  # the log keeps the latest ones: a client that floods the server cannot grow it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requests: deque[Request] = deque(maxlen=self.max_logged_requests)
        self._in_flight = 0  # handlers that have not recorded their request yet
        self.honour_range = True
        self._fail = 0
        self._fail_status = 503
        self._settled = threading.Condition(self._lock)

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._fail, self._fail_status = n, status

    def _take_failure(self) -> int | None:
        with self._lock:
            if self._fail > 0:
                self._fail -= 1
                return self._fail_status
        return None

    def _started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _finished(self) -> None:
        with self._settled:
            self._in_flight -= 1
            self._settled.notify_all()

    @property
    def requests(self) -> list[Request]:
        """The requests answered so far (the latest `max_logged_requests`). A handler records its request after
        the answer went out, so a client that has its bytes may be faster than the record: wait (briefly) until no
        handler is still finishing."""
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=5.0)
            return list(self._requests)

    def downloads_of(self, name: str) -> list[Request]:
        """GET requests for a file path (any repo), for asserting what a client fetched."""
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(name)]


class HubServer(Instrumented):
    """In-memory repos: each `add_repo` publishes a new revision and points a branch at it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.repos: dict[str, dict[str, Revision]] = {}  # repo -> {sha or branch: revision}

    def lookup(self, repo_id: str, revision: str) -> Revision:
        with self._lock:
            revs = self.repos.get(repo_id)
            if revs is None:
                raise RepoNotFound(repo_id)
            if revision not in revs:
                raise RevisionNotFound(revision)
            return revs[revision]

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
        content: dict[str, bytes | Path] = dict(folder_files(Path(folder))) if folder is not None else {}
        content.update(files or {})
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(content):
            item = content[name]
            digest.update(name.encode() + b"\0" + (item if isinstance(item, bytes) else str(item.stat()).encode()))
        sha = digest.hexdigest()
        revision = Revision(sha, content)
        with self._lock:
            revs = self.repos.setdefault(repo_id, {})
            revs[sha] = revision
            revs[branch] = revision
        return sha


class RecordingMirrorServer(Instrumented, MirrorServer):
    """`MirrorServer(root)` with the request log, for asserting what a client read from a mirror."""


__all__ = ["HubServer", "Instrumented", "RecordingMirrorServer", "Request"]
