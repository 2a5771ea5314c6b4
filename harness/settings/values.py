"""Rules every setting value obeys, whichever section defines it: finite numbers, sane sizes and durations.

Why one walk over the loaded settings instead of a constraint on each field: the sections are defined by the
packages that own them (`policies`, `chain`, `scoring`, `harness`), and a field added tomorrow without a bound
must still not accept `1e400` (which parses as infinity: `policy.max_parameters=1e400` used to switch the size
rule off) or `nan` (which compares false with everything, so every `<=` check passes). The rules:
- every float is finite (no `inf`, `-inf`, `nan`), inside dicts and lists too;
- every integer fits in 64 bits (SQLite, JSON readers and Docker all stop there);
- a number named like a duration or a size (`*_s`, `*_timeout`, `*_bytes`, `max_*`) is not negative;
- a string named like a size (`*_size`, `*_limit`) is what Docker and a tmpfs mount both read: digits with an
  optional unit k, m or g (binary: 512m, 8g, 1073741824), above zero except where zero means "off".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

INT64_MAX = 2**63 - 1
SIZE = re.compile(r"[0-9]{1,19}[kmg]?", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# size settings whose "0" is documented to switch the feature off rather than to set a zero limit
ZERO_MEANS_OFF = frozenset({"sandbox.socket_dir_size"})


class SettingValueError(ValueError):
    """A setting's value breaks a rule every setting obeys; `key` is its dotted name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def size_bytes(text: str) -> int:
    """Bytes of a size setting ("8g", "512m", "1048576"), as Docker and tmpfs read it; ValueError otherwise."""
    value = text.strip()
    if not SIZE.fullmatch(value):
        raise ValueError(f"not a size: {text!r} (expected digits with an optional unit k, m or g, e.g. 512m, 8g)")
    unit = value[-1].lower() if value[-1].isalpha() else ""
    return int(value[: len(value) - len(unit)]) * SIZE_UNITS[unit]


def _leaves(value: Any, key: str) -> Iterator[tuple[str, str, Any]]:
    """(dotted key, field name, value) of every leaf under `value`; a dict's or list's items keep their field's
    name, so `tasks.bfcl_categories.simple` is judged as a `bfcl_categories` value."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _named(getattr(value, name), f"{key}.{name}" if key else name, name)
    else:
        yield key, key.rsplit(".", 1)[-1], value


def _named(value: Any, key: str, name: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, BaseModel):
        yield from _leaves(value, key)
    elif isinstance(value, dict):
        for item_key in sorted(value, key=str):
            yield from _named(value[item_key], f"{key}.{item_key}", name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _named(item, f"{key}.{index}", name)
    else:
        yield key, name, value


def _is_duration_or_size(name: str) -> bool:
    return name.endswith(("_s", "_timeout", "_bytes")) or name.startswith("max_")


def check_values(settings: BaseModel) -> None:
    """Raise `SettingValueError` naming the first setting (in field order) that breaks a rule above."""
    for key, name, value in _leaves(settings, ""):
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise SettingValueError(key, f"must be a finite number (got {value})")
        if isinstance(value, int) and abs(value) > INT64_MAX:
            raise SettingValueError(key, f"must fit in 64 bits (got a {len(str(abs(value)))}-digit number)")
        if isinstance(value, int | float) and value < 0 and _is_duration_or_size(name):
            raise SettingValueError(key, f"must not be negative (got {value})")
        if isinstance(value, str) and name.endswith(("_size", "_limit")):
            try:
                size = size_bytes(value)
            except ValueError as exc:
                raise SettingValueError(key, str(exc)) from None
            if size == 0 and key not in ZERO_MEANS_OFF:
                raise SettingValueError(key, f"must be above zero (got {value!r})")
