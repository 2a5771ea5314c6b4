"""Untrusted text (model answers, repo names, hotkeys, failure reasons quoting a sandbox log) made safe to show.

One place decides what is dangerous, so `harness report`, `status`, `score` and `selftest` cannot drift apart:
- on a terminal, a model's answer can carry ESC sequences (cursor movement, a fake "ALLOWED", OSC 52 writing the
  operator's clipboard), C1 controls (a lone 0x9b is a CSI on some terminals), bidirectional overrides (RLO makes
  `exe.txt` read `txt.exe`), zero-width characters and Unicode tag characters (invisible text a reader cannot see
  but a copy-paste carries). Each is shown as a visible escape (`\\x1b`, `\\u202e`, `\\U000e0041`), via
  `policies.printable.printable`, which covers every control, format, private-use and unassigned code point.
- in Markdown (an issue, a Discord channel), the same characters are escaped, and so are Markdown and HTML
  metacharacters and `@everyone` / `@here` mentions, so a pasted report can neither break its tables nor ping.
"""

from __future__ import annotations

import re
from typing import Any

from policies.printable import printable

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~|<>\[\]])")
_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)


def for_terminal(value: Any, limit: int | None = 300, *, one_line: bool = True) -> str:
    """`value` as text a terminal shows literally: every control/format/invisible character escaped, whitespace
    runs collapsed to one space when `one_line` (a newline in a model's answer must not forge a report line), and
    cut to `limit` characters with an ellipsis (None: no cut)."""
    text = "" if value is None else str(value)
    if one_line:
        text = " ".join(text.split())
    text = printable(text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def for_markdown(value: Any, limit: int | None = 300) -> str:
    """`value` as one Markdown table cell's text: escaped as for a terminal, then Markdown/HTML metacharacters
    backslash-escaped and mentions defused with a zero-width space (added after escaping, so it stays a real one)."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", for_terminal(value, limit))
    return _MENTION.sub("@\u200b\\1", text)
