"""Reader for a Hub repo at a revision, from metadata only: the file list with sizes, then byte ranges.

Every request goes to the configured endpoint (`HubConfig`, else $HF_ENDPOINT), is bounded by a timeout and
retried with tenacity on transient failures (connection errors, timeouts, 429, 5xx). The revision is
resolved once to a commit sha and every later read uses that sha, so one check sees one snapshot. Reads of
weight files are `Range` requests; if a server ignores the range, the body is streamed and cut at the
requested length, so a weight file is never downloaded by a check.

The Hub (or whoever answers in its place) is an adversary too, so every answer is bounded: bodies are read
raw (a `Content-Encoding` other than identity is refused, never expanded), each kind of answer has a byte cap,
each request one wall-clock deadline covering its status line, headers and body (`policies.deadline`: a server
dripping one byte per read timeout still ends, and is not retried as if it were a transient failure), a whole
check `HubConfig.check_deadline_s` (30 s), the listing a file count cap, and redirects are followed only for
file reads (the Hub's LFS/CDN redirects), only to https (or to the same loopback http origin, for a local
mirror), at most `max_redirects` hops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urljoin, urlsplit

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from policies import jsonbound
from policies.config import HubConfig
from policies.deadline import HubDeadline, deadline_at, install
from policies.errors import CheckError, HubUnreachable
from policies.manifest import FileEntry
from policies.revision import is_commit_sha

MAX_LISTED_SIZE = 2**50  # 1 PiB: a listed size beyond this is a lie, not a model
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class HubAnswerError(CheckError):
    """The Hub's answer broke a bound (too big, too slow, encoded, redirected where it may not go)."""


class _Transient(Exception):
    """A failure worth retrying (network, timeout, 429, 5xx)."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _Transient | httpx.TransportError)


class HubClient:
    """Small Hub API client: `model_info`, ranged reads and streamed downloads of one repo's files."""

    def __init__(self, config: HubConfig | None = None, *, client: httpx.Client | None = None) -> None:
        self.config = config or HubConfig()
        self.endpoint = self.config.resolved_endpoint()
        headers = {"user-agent": "subnet-harness/0.1", "accept-encoding": "identity"}
        token = self.config.resolved_token()
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.http = install(
            client or httpx.Client(timeout=self.config.timeout_s, follow_redirects=False, headers=headers)
        )
        # Monotonic time by which a whole check must be done (`HubConfig.check_deadline_s`, set by the check):
        # no request of the check may run past it, however many requests are left.
        self.check_deadline = math.inf

    def request_deadline(self) -> float:
        """When a request started now must be complete: its own deadline, and never after the check's."""
        return min(time.monotonic() + self.config.request_deadline_s, self.check_deadline)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retrying(self, what: str, fn):  # type: ignore[no-untyped-def]
        """Call `fn` with the configured retries; transient failures that persist become `HubUnreachable`."""
        retrying = Retrying(
            stop=stop_after_attempt(self.config.attempts),
            wait=wait_exponential(multiplier=self.config.retry_wait_s, max=max(self.config.retry_wait_s * 8, 0.001)),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            return retrying(fn)
        except (_Transient, httpx.TransportError) as exc:
            raise HubUnreachable(
                f"Hub at {self.endpoint} unreachable for {what} after {self.config.attempts} tries: "
                f"{type(exc).__name__}: {exc}"
            ) from None

    @staticmethod
    def raise_for(response: httpx.Response, what: str) -> None:
        """Map an HTTP status to a retryable failure or a one-line `CheckError`."""
        code = response.status_code
        if 300 <= code < 400:  # API answers never redirect; file reads have followed theirs already
            raise HubAnswerError(f"{what}: unexpected redirect (HTTP {code})")
        if code == 429 or code >= 500:
            raise _Transient(f"HTTP {code}")
        if code in (401, 403):
            raise CheckError(f"{what}: access denied (HTTP {code}; gated or private repo?)")
        if code == 404:
            kind = response.headers.get("x-error-code", "")
            detail = {"RepoNotFound": "repository not found", "RevisionNotFound": "revision not found"}.get(
                kind, "not found"
            )
            raise CheckError(f"{what}: {detail} (HTTP 404)")
        if code >= 400:
            raise CheckError(f"{what}: HTTP {code}")

    def model_info(self, repo_id: str, revision: str | None) -> tuple[str, list[FileEntry]]:
        """Resolve `revision` to a commit sha and list every file with its size (body and count capped)."""
        rev = revision or "main"
        url = f"{self.endpoint}/api/models/{repo_id}/revision/{quote(rev, safe='')}"
        what = f"model info of {repo_id}@{rev}"

        def call() -> object:
            deadline = self.request_deadline()
            with deadline_at(deadline, what), self.http.stream("GET", url, params={"blobs": "true"}) as response:
                self.raise_for(response, what)
                body = b"".join(self.body_chunks(response, what, self.config.max_info_bytes, deadline))
            try:
                return jsonbound.loads(body)
            except jsonbound.JsonLimitError as exc:
                raise CheckError(f"{what}: the Hub answered with invalid JSON ({exc})") from None

        info = self.retrying(what, call)
        sha = info.get("sha") if isinstance(info, dict) else None
        siblings = info.get("siblings") if isinstance(info, dict) else None
        if not is_commit_sha(sha) or not isinstance(siblings, list):
            raise CheckError(f"{what}: the Hub's answer lacks a commit sha or a file list")
        if len(siblings) > self.config.max_listed_files:
            raise HubAnswerError(
                f"{what}: the repo lists {len(siblings):,} files, over the cap of {self.config.max_listed_files:,}"
            )
        entries = []
        for item in siblings:
            name, size = (item.get("rfilename"), item.get("size")) if isinstance(item, dict) else (None, None)
            if not isinstance(name, str) or type(size) is not int or size < 0:
                raise CheckError(f"{what}: a file entry lacks a name or a size")
            if size > MAX_LISTED_SIZE:
                raise HubAnswerError(f"{what}: a file is listed at an implausible size ({size:.3e} bytes)")
            entries.append(FileEntry(name, size, "file"))
        return sha, entries

    def body_chunks(
        self, response: httpx.Response, what: str, cap: int, deadline: float, *, reader_cuts: bool = False
    ) -> Iterator[bytes]:
        """The raw body (never decoded) in chunks, failing past `cap` bytes or past `deadline`. With
        `reader_cuts` the caller stops early on its own, so a large declared length is no reason to refuse."""
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise HubAnswerError(f"{what}: the Hub sent content-encoding {encoding!r} although identity was asked")
        declared = response.headers.get("content-length")
        if not reader_cuts and declared is not None and declared.isdigit() and int(declared) > cap:
            raise HubAnswerError(f"{what}: the answer declares {int(declared):,} bytes, over the cap of {cap:,}")
        seen = 0
        for chunk in response.iter_raw():  # as the network delivers: a chunk size would buffer a drip unseen
            seen += len(chunk)
            if seen > cap:
                raise HubAnswerError(f"{what}: the answer runs past the cap of {cap:,} bytes")
            if time.monotonic() > deadline:
                raise HubDeadline(f"{what}: no complete answer within the deadline")
            yield chunk

    @contextmanager
    def file_stream(self, url: str, what: str, headers: dict[str, str] | None = None) -> Iterator[httpx.Response]:
        """GET a file, following at most `max_redirects` redirects, each to https (or the same loopback origin)."""
        for _ in range(self.config.max_redirects + 1):
            with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code not in (301, 302, 303, 307, 308):
                    yield response
                    return
                location = response.headers.get("location")
            if not location:
                raise HubAnswerError(f"{what}: redirect without a Location")
            url = urljoin(url, location)
            self._check_redirect_target(url, what)
        raise HubAnswerError(f"{what}: more than {self.config.max_redirects} redirects")

    def _check_redirect_target(self, url: str, what: str) -> None:
        target, origin = urlsplit(url), urlsplit(self.endpoint)
        if target.scheme == "https":
            return
        same_loopback = target.scheme == "http" and target.hostname in LOOPBACK_HOSTS and target.netloc == origin.netloc
        if not same_loopback:
            raise HubAnswerError(f"{what}: redirect to a non-https location refused ({target.scheme}://...)")

    def file_url(self, repo_id: str, revision: str, path: str) -> str:
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def read_range(self, repo_id: str, revision: str, path: str, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of a file; never more than `length` bytes cross the wire on purpose."""
        if length <= 0:
            return b""
        url = self.file_url(repo_id, revision, path)
        what = f"{repo_id}/{path}"

        def call() -> bytes:
            headers = {"range": f"bytes={start}-{start + length - 1}"}
            deadline = self.request_deadline()
            with deadline_at(deadline, what), self.file_stream(url, what, headers) as response:
                if response.status_code == 416:
                    return b""
                self.raise_for(response, what)
                skip = 0 if response.status_code == 206 else start  # a server that ignored Range sent it all
                if skip + length > self.config.max_range_skip_bytes + length:
                    raise HubAnswerError(f"{what}: the server ignored Range and the bytes lie too far in")
                out = bytearray()
                chunks = self.body_chunks(response, what, skip + length + 64 * 1024, deadline, reader_cuts=True)
                for chunk in chunks:
                    out += chunk
                    if len(out) >= skip + length:
                        break
                return bytes(out[skip : skip + length])

        return self.retrying(what, call)


class HubReader:
    """The manifest reader for `repo_id` at `revision` (resolved to a sha on construction)."""

    def __init__(self, client: HubClient, repo_id: str, revision: str | None) -> None:
        self.client = client
        self.repo_id = repo_id
        self.revision, self._entries = client.model_info(repo_id, revision)
        self.source = f"hf://{repo_id}@{self.revision}"
        self.parallel_reads = client.config.parallel_requests

    def entries(self) -> list[FileEntry]:
        return list(self._entries)

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return self.client.read_range(self.repo_id, self.revision, path, start, length)  # type: ignore[arg-type]
