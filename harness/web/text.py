"""Untrusted text (model names, hotkeys, answers, reasons) made safe to show on a page, before HTML escaping.

HTML escaping (Jinja2's autoescape) stops markup; it does not stop characters that change how text *reads*: bidi
overrides (U+202E makes `gpj.exe` look like `exe.jpg`), zero-width characters that make two names look alike, or
terminal escapes (ESC) that land in a copied command. As `policies.printable` does for terminals, each such
character is shown as a visible escape; line breaks and tabs stay (prompts and answers are multi-line).
"""

from __future__ import annotations

import unicodedata

_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
_KEPT = frozenset("\n\t")


def visible(text: str) -> str:
    """`text` with control, format (bidi, zero-width), surrogate, private and unassigned characters escaped."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if ch not in _KEPT and unicodedata.category(ch) in _HIDDEN:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
