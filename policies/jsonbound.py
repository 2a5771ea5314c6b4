"""JSON from a model repo, parsed with bounds that hold before the parser does any work.

Python's `json` recurses once per nesting level (a file 3 million levels deep is a `RecursionError`, and near
the limit a C stack risk), and `int()` on an integer of thousands of digits is quadratic (over 4,300 digits it
raises, and formatting such an integer in a message raises again). So every JSON document here goes through:

1. a linear scan with C-speed `bytes` operations: strings are checked and replaced by `""`, every byte but the
   four brackets is dropped and the running depth of what is left is counted (no recursion); number lengths
   and the count of values are bounded on that skeleton;
2. `json.loads`, only then, with `parse_int`/`parse_float` hooks that refuse over-long numbers.

`validate` does the same without keeping anything (strings are gone, numbers and containers collapse to
`None`), so a 64 MiB tokenizer.json is checked in full for well-formedness while memory follows the size of
its largest array, not its content.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable
from itertools import accumulate

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 for an opening bracket, -1 (as a signed byte) closing
_CONTROL = bytes(range(32))
_NOT_CONTROL = bytes(b for b in range(256) if b >= 32)
_NOT_CONTROL_OUTSIDE = bytes(b for b in range(256) if b >= 32 or b in b"\t\r\n")
# After escaped backslashes and quotes are gone, any backslash left must start one of JSON's other escapes.
_BAD_ESCAPE = re.compile(rb"\\(?![/bfnrt]|u[0-9a-fA-F]{4})")
WINDOW = 256 * 1024
MAX_VALUES = 8_000_000  # commas and brackets: a 262k-token tokenizer.json holds about 1.5 million values

MAX_DEPTH = 64  # real configs and tokenizers nest under 10 levels
MAX_INT_DIGITS = 64  # tokenizer_config's `model_max_length` (1e30 as an integer) has 31
MAX_FLOAT_CHARS = 64


class JsonLimitError(ValueError):
    """The document breaks a bound (depth, number length) or is not JSON; the message says which."""


def _skeleton(data: bytes) -> bytes:
    """The document with every string replaced by `""`, its strings checked for RFC 8259 escapes and control
    characters on the way. C-speed operations on fixed windows, so neither time nor memory follow the number of
    strings (a regex substitution would keep one object per string: 800 MB for 5 million strings).

    Escaped backslashes and quotes are first replaced by `x` (harmless inside a string, invalid outside one and
    in no JSON literal), so every quote left delimits a string and windows can be split on quotes with the
    parity carried from one window to the next."""
    flat = data.replace(b"\\\\", b"x").replace(b'\\"', b"x")
    bad = _BAD_ESCAPE.search(flat)
    if bad:
        raise JsonLimitError(f"invalid escape at byte {bad.start():,}")
    out: list[bytes] = []
    inside = False
    for start in range(0, len(flat), WINDOW):
        pieces = flat[start : start + WINDOW].split(b'"')
        first_out = 1 if inside else 0
        outside, strings = pieces[first_out::2], pieces[1 - first_out :: 2]
        if b"".join(strings).translate(None, delete=_NOT_CONTROL):
            raise JsonLimitError("a string holds a raw control character")
        if b"".join(outside).translate(None, delete=_NOT_CONTROL_OUTSIDE):
            raise JsonLimitError("a control character outside strings")
        if inside and len(pieces) > 1:
            out.append(b'""')  # the string that began in an earlier window closes here
        out.append(b'""'.join(outside))
        inside = inside != bool((len(pieces) - 1) % 2)
    if inside:
        raise JsonLimitError("a string is not terminated")
    return b"".join(out)


def depth_of(skeleton: bytes) -> int:
    """Deepest bracket nesting of a document whose strings were already replaced (linear, no recursion)."""
    steps = skeleton.translate(None, delete=_NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(array("b", steps)), default=0)


def _bounded_int(max_digits: int, keep: bool) -> Callable[[str], object]:
    def parse(text: str) -> object:
        digits = len(text) - text.startswith("-")
        if digits > max_digits:
            raise JsonLimitError(f"an integer of {digits:,} digits (limit {max_digits})")
        return int(text) if keep else None

    return parse


def _bounded_float(keep: bool) -> Callable[[str], object]:
    def parse(text: str) -> object:
        if len(text) > MAX_FLOAT_CHARS:
            raise JsonLimitError(f"a number written in {len(text):,} characters (limit {MAX_FLOAT_CHARS})")
        return float(text) if keep else None

    return parse


def _check(data: bytes, max_depth: int, max_int_digits: int) -> bytes:
    """The skeleton, after the bounds that need no parsing: depth, number lengths, value count."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    skeleton = _skeleton(data)
    depth = depth_of(skeleton)
    if depth > max_depth:
        raise JsonLimitError(f"nested {depth:,} levels deep (limit {max_depth})")
    if re.search(rb"[0-9]{%d}" % (max_int_digits + 1), skeleton):
        raise JsonLimitError(f"a number of more than {max_int_digits} digits")
    if re.search(rb"[-+.eE0-9]{%d}" % (MAX_FLOAT_CHARS + 1), skeleton):
        raise JsonLimitError(f"a number written in more than {MAX_FLOAT_CHARS} characters")
    values = skeleton.count(b",") + skeleton.count(b"[") + skeleton.count(b"{")
    if values > MAX_VALUES:
        raise JsonLimitError(f"{values:,} values (limit {MAX_VALUES:,})")
    return skeleton


def loads(data: bytes, *, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS) -> object:
    """The document, after the depth scan, with numbers bounded. Raises `JsonLimitError` (a `ValueError`) on any
    bound or syntax error, never `RecursionError`."""
    _check(data, max_depth, max_int_digits)
    try:
        return json.loads(
            data.decode("utf-8-sig"),
            parse_int=_bounded_int(max_int_digits, keep=True),
            parse_float=_bounded_float(keep=True),
        )
    except JsonLimitError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JsonLimitError(_syntax(exc)) from None


def _syntax(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"syntax error: {exc.msg} at byte {exc.pos:,}"
    return "not UTF-8" if isinstance(exc, UnicodeDecodeError) else f"syntax error ({type(exc).__name__})"


def _drop(pairs: object) -> None:
    return None


def validate(data: bytes, *, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS) -> type:
    """Check a whole document (UTF-8, syntax, depth, number lengths) keeping nothing of it; returns the type of
    the top-level value (`dict`, `list`, ...). Raises `JsonLimitError`."""
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JsonLimitError("not UTF-8") from None
    skeleton = _check(data, max_depth, max_int_digits)
    del data
    top = skeleton.lstrip(b" \t\r\n")[:1]
    try:
        json.loads(
            skeleton.decode("utf-8"),
            parse_int=len,  # numbers were bounded above; `len` is a C call that keeps no new object
            parse_float=len,
            object_pairs_hook=_drop,
        )
    except JsonLimitError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JsonLimitError(_syntax(exc)) from None
    return {b"{": dict, b"[": list, b'"': str}.get(top, object)
