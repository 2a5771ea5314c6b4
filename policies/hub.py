"""Reader for a Hub repo at a revision, from metadata only: the file list with sizes, then byte ranges.

Every request goes to the configured endpoint (`HubConfig`, else $HF_ENDPOINT), is bounded by a timeout and
retried with tenacity on transient failures (connection errors, timeouts, 429, 5xx). The revision is
resolved once to a commit sha and every later read uses that sha, so one check sees one snapshot. Reads of
weight files are `Range` requests; if a server ignores the range, the body is streamed and cut at the
requested length, so a weight file is never downloaded by a check.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from policies.config import HubConfig
from policies.errors import CheckError, HubUnreachable
from policies.manifest import FileEntry

SHA_RE = re.compile(r"^[0-9a-f]{40}$")


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
        self.http = client or httpx.Client(timeout=self.config.timeout_s, follow_redirects=True, headers=headers)

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
        """Resolve `revision` to a commit sha and list every file with its size."""
        rev = revision or "main"
        url = f"{self.endpoint}/api/models/{repo_id}/revision/{quote(rev, safe='')}"
        what = f"model info of {repo_id}@{rev}"

        def call() -> dict:
            response = self.http.get(url, params={"blobs": "true"})
            self.raise_for(response, what)
            try:
                return response.json()
            except ValueError:
                raise CheckError(f"{what}: the Hub answered with invalid JSON") from None

        info = self.retrying(what, call)
        sha = info.get("sha") if isinstance(info, dict) else None
        siblings = info.get("siblings") if isinstance(info, dict) else None
        if not isinstance(sha, str) or not SHA_RE.match(sha) or not isinstance(siblings, list):
            raise CheckError(f"{what}: the Hub's answer lacks a commit sha or a file list")
        entries = []
        for item in siblings:
            name, size = (item.get("rfilename"), item.get("size")) if isinstance(item, dict) else (None, None)
            if not isinstance(name, str) or type(size) is not int or size < 0:
                raise CheckError(f"{what}: a file entry lacks a name or a size")
            entries.append(FileEntry(name, size, "file"))
        return sha, entries

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
            with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code == 416:
                    return b""
                self.raise_for(response, what)
                skip = 0 if response.status_code == 206 else start  # a server that ignored Range sent it all
                out = bytearray()
                for chunk in response.iter_bytes():
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
