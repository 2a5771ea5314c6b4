"""A model manifest: everything the rules need, read from metadata only.

One builder serves local folders and Hub repos through a tiny reader interface (list entries, read a byte
range), so both paths apply identical logic. Reads are: the entry list, the first bytes of each regular
file (content sniffing for pickles and archives), each safetensors header, and small metadata files
(JSON configs, model card, chat templates). Tensor data is never read.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal, Protocol

from policies.config import PolicyConfig
from policies.safetensors_header import HeaderError, SafetensorsHeader, read_header

HEAD_BYTES = 64
# Large data files that never hold code or policy-relevant settings: not read beyond their first bytes.
UNREAD_JSON = frozenset({"tokenizer.json", "vocab.json"})
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    kind: Literal["file", "symlink", "special"] = "file"
    target: str | None = None  # symlink target, for the message


class Reader(Protocol):
    source: str
    revision: str | None

    def entries(self) -> list[FileEntry]: ...

    def read_range(self, path: str, start: int, length: int) -> bytes: ...


@dataclass
class Manifest:
    source: str
    revision: str | None
    files: list[FileEntry]
    heads: dict[str, bytes] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)
    text_errors: dict[str, str] = field(default_factory=dict)
    headers: dict[str, SafetensorsHeader] = field(default_factory=dict)
    header_errors: dict[str, str] = field(default_factory=dict)
    derived: dict[str, object] = field(default_factory=dict, repr=False)  # parsed views, computed once

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def entry(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)

    def json_text(self, path: str) -> bytes | None:
        return self.texts.get(path)


def escapes_root(path: str) -> bool:
    """True for absolute paths, `..` components, backslashes or empty components: never a repo-relative file."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return True
    parts = path.split("/")
    return any(p in ("", ".", "..") for p in parts) or posixpath.normpath(path) != path


def is_metadata_file(path: str) -> bool:
    """Small files the rules read in full: root JSON configs, model card, chat templates."""
    if "/" not in path:
        return (path.endswith(".json") and path not in UNREAD_JSON) or path in ("README.md", "chat_template.jinja")
    return path.startswith("additional_chat_templates/") and path.endswith(".jinja") and path.count("/") == 1


def build_manifest(reader: Reader, config: PolicyConfig) -> Manifest:
    """Read what the rules need. A reader with `parallel_reads > 1` (the Hub) gets its reads issued from a
    small thread pool, since each is a round trip; every entry writes only its own keys of the manifest."""
    entries = sorted(reader.entries(), key=lambda e: e.path)
    manifest = Manifest(source=reader.source, revision=reader.revision, files=entries)
    todo = [e for e in entries if e.kind == "file" and not escapes_root(e.path)]  # others are never opened
    workers = max(1, int(getattr(reader, "parallel_reads", 1)))
    if workers == 1 or len(todo) < 2:
        for entry in todo:
            _read_entry(reader, entry, config, manifest)
        return manifest
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="manifest") as pool:
        for _ in pool.map(lambda e: _read_entry(reader, e, config, manifest), todo):
            pass  # re-raises the first CheckError
    return manifest


def _read_entry(reader: Reader, entry: FileEntry, config: PolicyConfig, manifest: Manifest) -> None:
    if entry.path.endswith(".safetensors"):
        _read_safetensors(reader, entry, config, manifest)
    elif is_metadata_file(entry.path):
        if entry.size > config.max_metadata_file_bytes:
            manifest.text_errors[entry.path] = f"larger than {config.max_metadata_file_bytes} bytes"
            manifest.heads[entry.path] = reader.read_range(entry.path, 0, min(entry.size, HEAD_BYTES))
        else:
            data = reader.read_range(entry.path, 0, entry.size)
            manifest.texts[entry.path] = data
            manifest.heads[entry.path] = data[:HEAD_BYTES]
    elif entry.size:
        manifest.heads[entry.path] = reader.read_range(entry.path, 0, min(entry.size, HEAD_BYTES))
    else:
        manifest.heads[entry.path] = b""


def _read_safetensors(reader: Reader, entry: FileEntry, config: PolicyConfig, manifest: Manifest) -> None:
    first: list[bytes] = []

    def read(start: int, length: int) -> bytes:
        data = reader.read_range(entry.path, start, length)
        if start == 0:
            first.append(data)
        return data

    try:
        manifest.headers[entry.path] = read_header(read, entry.size, config.max_header_bytes)
    except HeaderError as exc:
        manifest.header_errors[entry.path] = str(exc)
        manifest.heads[entry.path] = first[0] if first else b""
