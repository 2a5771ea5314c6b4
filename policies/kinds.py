"""The allowlist of file kinds a model repo may hold, and how each kind is validated for what it is.

A blocklist (pickle suffixes, sniffed magic bytes) is evaded by what it did not foresee: a pickle stream
without the PROTO opcode, a pickle or zip behind a few junk bytes. An allowlist turns the question around:
a file is accepted only under a name of a recognised kind, and only when its bytes are that kind (a
safetensors header that tiles the file, JSON that parses under a size cap, UTF-8 text, a tokenizer in its
real format, an image by its signature). Anything else is rejected with its rule id, and a file of a known
kind over its size cap is rejected too: never skipped, because a skipped file is a file nobody judged.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

from policies import jsonbound
from policies.config import PolicyConfig

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Kind:
    name: str
    downloaded: bool  # the engines need it; images of a model card are allowed but never fetched


SAFETENSORS = Kind("safetensors", True)
JSON = Kind("json", True)
TEXT = Kind("text", True)
TEMPLATE = Kind("jinja", True)
TOKENIZER_JSON = Kind("tokenizer-json", True)
TOKENIZER_TEXT = Kind("tokenizer-text", True)
SENTENCEPIECE = Kind("sentencepiece", True)
IMAGE = Kind("image", False)

TOKENIZER_JSON_NAMES = frozenset({"tokenizer.json", "vocab.json"})
TOKENIZER_TEXT_NAMES = frozenset({"merges.txt", "vocab.txt"})
SENTENCEPIECE_NAMES = frozenset({"tokenizer.model", "spiece.model", "sentencepiece.bpe.model"})
TEXT_NAMES = frozenset({".gitattributes", "LICENSE", "NOTICE", "USE_POLICY.md"})
IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


def kind_of(path: str) -> Kind | None:
    """The kind a repo-relative path claims by its name, or None when no kind allows that name."""
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
    if lower.endswith(".safetensors"):
        return SAFETENSORS
    if name in TOKENIZER_JSON_NAMES:
        return TOKENIZER_JSON
    if name in TOKENIZER_TEXT_NAMES:
        return TOKENIZER_TEXT
    if name in SENTENCEPIECE_NAMES:
        return SENTENCEPIECE
    if lower.endswith(".json"):
        return JSON
    if lower.endswith(".jinja"):
        return TEMPLATE
    if lower.endswith((".md", ".txt")) or name in TEXT_NAMES:
        return TEXT
    if lower.endswith((".png", ".jpg", ".jpeg", ".gif")):
        return IMAGE
    return None


def size_cap(kind: Kind, config: PolicyConfig) -> int | None:
    """Largest size accepted for a kind (None: no cap here; safetensors are bounded by `size` and the header)."""
    return {
        JSON: config.max_json_bytes,
        TEXT: config.max_text_bytes,
        TEMPLATE: config.max_template_bytes,
        TOKENIZER_JSON: config.max_tokenizer_bytes,
        TOKENIZER_TEXT: config.max_tokenizer_bytes,
        SENTENCEPIECE: config.max_tokenizer_bytes,
        IMAGE: config.max_image_bytes,
    }.get(kind)


Read = Callable[[int, int], bytes]


def _chunks(read: Read, size: int):  # type: ignore[no-untyped-def]
    offset = 0
    while offset < size:
        data = read(offset, min(CHUNK, size - offset))
        if not data:
            raise ValueError(f"file ended at byte {offset} of {size}")
        yield data
        offset += len(data)


def check_utf8_text(read: Read, size: int, *, allow_nul: bool = False) -> str | None:
    """None when the bytes are UTF-8 text (streamed in 1 MiB chunks, nothing kept); else what is wrong."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for data in _chunks(read, size):
            if not allow_nul and b"\x00" in data:
                return "contains NUL bytes (not text)"
            decoder.decode(data)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    except ValueError as exc:
        return str(exc)
    return None


def parse_json_object(data: bytes) -> tuple[object | None, str | None]:
    try:
        doc = jsonbound.loads(data)
    except jsonbound.JsonLimitError as exc:
        return None, f"is not valid JSON: {exc}"
    if not isinstance(doc, dict):
        return None, "is not a JSON object"
    return doc, None


def check_tokenizer_json(read: Read, size: int) -> str | None:
    """A JSON object in UTF-8, parsed in full: syntax, string escapes, nesting depth, number lengths and value
    count bounded by `policies.jsonbound` (linear, nothing of the content kept), so a file that is not JSON or
    nests 3 million levels deep is refused here instead of crashing the engine's tokenizer library."""
    if size < 2:
        return "is too short for a JSON object"
    try:
        data = b"".join(_chunks(read, size))
    except ValueError as exc:
        return str(exc)
    try:
        top = jsonbound.validate(data)
    except jsonbound.JsonLimitError as exc:
        return f"is not valid JSON: {exc}"
    return None if top is dict else "is not a JSON object"


def check_sentencepiece(read: Read, size: int) -> str | None:
    """A sentencepiece ModelProto starts with field 1 (`pieces`, length-delimited): tag byte 0x0a."""
    head = read(0, min(size, 16))
    if not head or head[0] != 0x0A:
        return "is not a sentencepiece model (protobuf field 1 expected)"
    return None


def check_image(read: Read, size: int) -> str | None:
    head = read(0, min(size, 16))
    if not any(head.startswith(sig) for sig in IMAGE_SIGNATURES):
        return "is not a PNG, JPEG or GIF image"
    return None
