"""Read the YAML front matter of a model card (README.md), where the Hub keeps `license`.

Any bytes give an answer: either a dict or a `FrontMatterError` with a reason. YAML is loaded with the
safe loader (no object construction) and the block is size-capped, so a hostile card cannot run code or
exhaust memory.
"""

from __future__ import annotations

import yaml

MAX_FRONT_MATTER_BYTES = 256 * 1024


class FrontMatterError(ValueError):
    """No usable front matter; the message says why."""


def parse_front_matter(data: bytes, max_bytes: int = MAX_FRONT_MATTER_BYTES) -> dict:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FrontMatterError("model card is not UTF-8") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise FrontMatterError("model card has no YAML front matter (first line is not '---')")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise FrontMatterError("model card front matter is not closed by '---'") from None
    block = "\n".join(lines[1:end])
    if len(block.encode("utf-8")) > max_bytes:
        raise FrontMatterError(f"model card front matter is larger than {max_bytes} bytes")
    try:
        doc = yaml.safe_load(block)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise FrontMatterError(f"model card front matter is not valid YAML ({type(exc).__name__})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise FrontMatterError("model card front matter is not a mapping")
    return doc


def licenses_of(doc: dict) -> list[str]:
    """The declared license ids, lower case; a list value is allowed by the Hub's card format."""
    value = doc.get("license")
    items = value if isinstance(value, list) else [value]
    return [item.strip().lower() for item in items if isinstance(item, str) and item.strip()]
