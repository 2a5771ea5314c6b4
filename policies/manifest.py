"""A model manifest: everything the rules need, read through a bounded reader.

One builder serves local folders and Hub repos through a tiny reader interface (list entries, read a byte
range), so both paths apply identical logic. Every file must be of an allowlisted kind (`policies.kinds`);
files of no kind, or over their kind's cap, are never read. Reads are: the entry list, the first bytes of each
allowlisted file, each safetensors header, every JSON/text/template file whole (under per-kind caps and a total
cap, so checker memory does not grow with the repo) and, when `deep` (a folder about to be mounted), the
tokenizer files streamed through their format checks. Tensor data is never read.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal, Protocol

from policies import kinds, names
from policies.config import PolicyConfig
from policies.printable import printable
from policies.safetensors_header import HeaderError, SafetensorsHeader, read_header

HEAD_BYTES = 64


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
    # Allowlist findings: path -> (rule id, message) for files of no kind, over their cap or not what they claim.
    kind_errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    # `names` findings: path -> what is wrong with its name (never read, never fetched); and a refusal of the whole
    # repo before any read (too many files), which then is the report's only violation.
    name_errors: dict[str, str] = field(default_factory=dict)
    refused: str | None = None
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
    """Files the rules read: root JSON configs, model card, chat templates (kept in `texts`)."""
    if "/" not in path:
        return path.endswith(".json") or path in ("README.md", "chat_template.jinja")
    return path.startswith("additional_chat_templates/") and path.endswith(".jinja") and path.count("/") == 1


def build_manifest(reader: Reader, config: PolicyConfig, *, deep: bool = False) -> Manifest:
    """Read what the rules need. A reader with `parallel_reads > 1` (the Hub) gets its reads issued from a
    small thread pool, since each is a round trip; every entry writes only its own keys of the manifest.

    `deep` validates tokenizer files in full too (streamed, nothing kept): used on a fetched folder, the
    exact bytes that will be mounted, where reads are local.
    """
    entries = sorted(reader.entries(), key=lambda e: e.path)
    manifest = Manifest(source=reader.source, revision=reader.revision, files=entries)
    manifest.refused = names.count_problem(len(entries), config)
    if manifest.refused:
        return manifest
    manifest.name_errors = names.name_problems((e.path for e in entries), config)
    todo = [
        e
        for e in entries
        if e.kind == "file"
        and not escapes_root(e.path)
        and e.path not in manifest.name_errors
        and _admit(e, config, manifest)
    ]
    _admit_total(todo, config, manifest)
    todo = [e for e in todo if e.path not in manifest.kind_errors]
    workers = max(1, int(getattr(reader, "parallel_reads", 1)))
    if workers == 1 or len(todo) < 2:
        for entry in todo:
            _read_entry(reader, entry, config, manifest, deep)
        return manifest
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="manifest") as pool:
        for _ in pool.map(lambda e: _read_entry(reader, e, config, manifest, deep), todo):
            pass  # re-raises the first CheckError
    return manifest


def _admit(entry: FileEntry, config: PolicyConfig, manifest: Manifest) -> bool:
    """True when the file is of an allowlisted kind within its cap; otherwise records why and never reads it."""
    if printable(entry.path) != entry.path:
        manifest.kind_errors[entry.path] = ("format", f"{entry.path}: file name is not printable UTF-8")
        return False
    kind = kinds.kind_of(entry.path)
    if kind is None:
        manifest.kind_errors[entry.path] = ("format", f"{entry.path}: not an allowed file kind")
        return False
    cap = kinds.size_cap(kind, config)
    if cap is not None and entry.size > cap:
        manifest.kind_errors[entry.path] = (
            "size",
            f"{entry.path}: {entry.size:,} bytes exceed the {kind.name} cap of {cap:,}",
        )
        return False
    return True


WHOLE_READ_KINDS = (kinds.JSON, kinds.TEXT, kinds.TEMPLATE)


def _admit_total(todo: list[FileEntry], config: PolicyConfig, manifest: Manifest) -> None:
    """JSON and text files are read whole: all together they must fit `max_metadata_total_bytes`."""
    whole = [e for e in todo if kinds.kind_of(e.path) in WHOLE_READ_KINDS]
    total = sum(e.size for e in whole)
    if total > config.max_metadata_total_bytes:
        for entry in whole:
            manifest.kind_errors[entry.path] = (
                "size",
                f"{entry.path}: JSON and text files total {total:,} bytes, over the cap of "
                f"{config.max_metadata_total_bytes:,}",
            )


def _read_entry(reader: Reader, entry: FileEntry, config: PolicyConfig, manifest: Manifest, deep: bool) -> None:
    kind = kinds.kind_of(entry.path)
    if kind is kinds.SAFETENSORS:
        _read_safetensors(reader, entry, config, manifest)
        return

    def read(start: int, length: int) -> bytes:
        return reader.read_range(entry.path, start, length)

    if kind in WHOLE_READ_KINDS:
        data = read(0, entry.size) if entry.size else b""
        manifest.heads[entry.path] = data[:HEAD_BYTES]
        if len(data) != entry.size:
            error: str | None = f"read {len(data)} of {entry.size} bytes"
        elif kind is kinds.JSON:
            error = kinds.parse_json_object(data)[1]
        else:
            error = kinds.check_utf8_text(lambda s, n: data[s : s + n], len(data))
        if error:
            manifest.kind_errors[entry.path] = ("format", f"{entry.path} {error}")
            if is_metadata_file(entry.path):
                manifest.text_errors[entry.path] = error.removeprefix("is ")
        elif is_metadata_file(entry.path):
            manifest.texts[entry.path] = data
        return
    manifest.heads[entry.path] = read(0, min(entry.size, HEAD_BYTES)) if entry.size else b""
    checker = {
        kinds.TOKENIZER_JSON: kinds.check_tokenizer_json,
        kinds.TOKENIZER_TEXT: kinds.check_utf8_text,
        kinds.SENTENCEPIECE: kinds.check_sentencepiece,
        kinds.IMAGE: kinds.check_image,
    }[kind]
    if kind in (kinds.TOKENIZER_JSON, kinds.TOKENIZER_TEXT) and not deep:
        # Metadata pre-filter: the head must look right; the fetched bytes get the full check before mounting.
        head = manifest.heads[entry.path]
        error = None if kind is kinds.TOKENIZER_TEXT or head.lstrip().startswith(b"{") else "is not a JSON object"
    else:
        error = checker(read, entry.size)
    if error:
        manifest.kind_errors[entry.path] = ("format", f"{entry.path} {error}")


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
