"""`pickle`: pickle-capable files are rejected outright, by name and by content, and never loaded.

Content sniffing catches a pickle renamed to anything: protocol 2+ starts with PROTO (0x80, 2..5); protocol
0/1 exploits start with a GLOBAL opcode (`cmodule\\nname\\n`); `torch.save` writes a zip (PK\\x03\\x04);
numpy `.npy` can embed pickles. Safetensors files are judged by their header instead (a valid header may
begin with 0x80 0x02), unless the header is broken and the bytes look like a pickle.
"""

from __future__ import annotations

import re

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.report import Violation

GLOBAL_OPCODE = re.compile(rb"^c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")


def sniff(head: bytes) -> str | None:
    """What pickle-capable format these first bytes announce, or None."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"pickle protocol {head[1]}"
    if GLOBAL_OPCODE.match(head):
        return "pickle (protocol 0 GLOBAL opcode)"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip archive (torch.save format)"
    if head.startswith(b"\x93NUMPY"):
        return "numpy array file (may embed pickles)"
    return None


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    suffixes = tuple(s.lower() for s in config.pickle_extensions)
    out = []
    for f in manifest.files:
        if f.kind != "file":
            continue
        if f.path.lower().endswith(suffixes):
            out.append(Violation("pickle", f"{f.path}: pickle-capable file type, rejected without loading"))
            continue
        if f.path.endswith(".safetensors") and f.path not in manifest.header_errors:
            continue
        found = sniff(manifest.heads.get(f.path, b""))
        if found:
            out.append(Violation("pickle", f"{f.path}: content is a {found}, rejected without loading"))
    return out
