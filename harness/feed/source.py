"""Where batches live: a folder or an http(s) base URL, one file per epoch (`epoch-<seed block>.json`).

Reads are bounded (`max_bytes`): a folder's file is read at most `max_bytes + 1` bytes, an HTTP answer is
streamed and dropped the moment it passes the cap, so a hostile or broken source cannot exhaust memory. Any
read failure is a named `FeedError`; nothing here decides what a batch means.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx

from harness.feed.errors import FeedError


def batch_name(epoch: int) -> str:
    return f"epoch-{epoch}.json"


def is_http(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_batch_bytes(location: str, epoch: int, *, max_bytes: int, timeout_s: float = 30.0) -> bytes:
    """The raw batch for `epoch` at `location`: `missing`, `oversized` or `unreachable` when it cannot be had."""
    if is_http(location):
        return _read_http(f"{location.rstrip('/')}/{batch_name(epoch)}", max_bytes, timeout_s)
    return _read_file(Path(location).expanduser() / batch_name(epoch), max_bytes)


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FeedError("missing", f"no batch at {path}") from None
    except OSError as exc:
        raise FeedError("unreachable", f"cannot read {path}: {exc}") from None
    if len(data) > max_bytes:
        raise FeedError("oversized", f"{path} is over {max_bytes} bytes")
    return data


def read_capped(response: httpx.Response, max_bytes: int) -> bytes | None:
    """A streamed body, or None the moment it passes `max_bytes` (the rest is never read)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return None
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            return None
    return bytes(body)


def get_capped(
    url: str, max_bytes: int, timeout_s: float, transport: httpx.BaseTransport | None = None
) -> tuple[int, bytes | None]:
    """(HTTP status, body) of one GET: the body is read only on a 200, streamed, and None the moment it passes
    `max_bytes`; any other status comes back with an empty body. Transport errors raise `feed/unreachable`. The
    batch reader and the drand beacon both read through here and decide what each status means."""
    try:
        with (
            httpx.Client(timeout=timeout_s, transport=transport) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                return response.status_code, b""
            return 200, read_capped(response, max_bytes)
    except httpx.HTTPError as exc:
        raise FeedError("unreachable", f"{url}: {type(exc).__name__}: {exc}") from None


def _read_http(url: str, max_bytes: int, timeout_s: float) -> bytes:
    status, body = get_capped(url, max_bytes, timeout_s)
    if status == 404:
        raise FeedError("missing", f"no batch at {url}")
    if status != 200:
        raise FeedError("unreachable", f"{url}: HTTP {status}")
    if body is None:
        raise FeedError("oversized", f"{url} is over {max_bytes} bytes")
    return body


def publish(location: str, epoch: int, data: bytes, *, timeout_s: float = 30.0) -> str:
    """Put a batch where validators read it: written whole into a folder (atomic rename), or PUT to a URL.
    Returns where it went."""
    if is_http(location):
        url = f"{location.rstrip('/')}/{batch_name(epoch)}"
        try:
            response = httpx.put(url, content=data, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise FeedError("unreachable", f"{url}: {type(exc).__name__}: {exc}") from None
        if response.status_code not in (200, 201, 204):
            raise FeedError("unreachable", f"{url}: HTTP {response.status_code}")
        return url
    folder = Path(location).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / batch_name(epoch)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".batch-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # validators (a web server, another user) read it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)
