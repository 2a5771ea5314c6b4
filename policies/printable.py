"""Text from untrusted sources (file names, Hub answers) made safe to print on a terminal.

A file name can carry escape sequences (`\x1b]0;...`, cursor movement, a fake "ALLOWED"), lone surrogates from
non-UTF-8 bytes, or line breaks that forge extra report lines. Every such character is shown as an escape.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """`text` with control, format, separator-line and surrogate characters replaced by `\\xNN`/`\\uNNNN`."""
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") and ch != " ":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
