"""Bounds on a repo's file names and file count, checked on the listing before anything is read.

Every name ends up as a path on the validator's disk (the fetch writes `models_dir/<repo>@<sha>/files/<path>`)
and on the miner's (`harness commitment`), so a name the filesystem cannot hold must be refused here, by the
policy, with its rule, rather than as an `OSError` in the middle of a download: a component over 255 bytes
(Linux NAME_MAX), a path so long or deep that the cache prefix pushes it past PATH_MAX, a file that is also a
folder of another file (`x.json` beside `x.json/y.json`), and two names that are one file on a
case-insensitive or normalising filesystem (`Config.json` beside `config.json`). The file count is bounded
too: each allowlisted file costs the check a read and the fetch a request, and no model needs thousands.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from policies.config import PolicyConfig

MAX_SHOWN = 80  # characters of a hostile name quoted in a message


def shown(path: str) -> str:
    return path if len(path) <= MAX_SHOWN else f"{path[:MAX_SHOWN]}... ({len(path):,} characters)"


def _fold(path: str) -> str:
    """The key two names share when a filesystem would treat them as one (case, Unicode normalisation)."""
    return unicodedata.normalize("NFC", path).casefold()


def count_problem(count: int, config: PolicyConfig) -> str | None:
    if count > config.max_files:
        return f"the repo holds {count:,} files, over the cap of {config.max_files:,} (nothing was read)"
    return None


def name_problems(paths: Iterable[str], config: PolicyConfig) -> dict[str, str]:
    """Path -> what is wrong with its name, for every path that breaks a bound or collides with another."""
    paths = sorted(paths)
    out: dict[str, str] = {}
    for path in paths:
        encoded = path.encode("utf-8", "surrogatepass")
        parts = path.split("/")
        longest = max((len(p.encode("utf-8", "surrogatepass")) for p in parts), default=0)
        if longest > config.max_name_bytes:
            out[path] = f"a name of {longest:,} bytes, over the cap of {config.max_name_bytes}"
        elif len(encoded) > config.max_path_bytes:
            out[path] = f"a path of {len(encoded):,} bytes, over the cap of {config.max_path_bytes}"
        elif len(parts) > config.max_path_depth:
            out[path] = f"a path {len(parts):,} folders deep, over the cap of {config.max_path_depth}"
    folded: dict[str, str] = {}
    folders: dict[str, str] = {}  # folded folder -> one path under it
    for path in paths:
        key = _fold(path)
        if key in folded:
            other = folded[key]
            out.setdefault(path, f"the same file as {shown(other)} on a case-insensitive filesystem")
            out.setdefault(other, f"the same file as {shown(path)} on a case-insensitive filesystem")
        folded[key] = path
        parts = key.split("/")
        for i in range(1, min(len(parts), config.max_path_depth + 1)):  # deeper paths are refused already
            folders.setdefault("/".join(parts[:i]), path)
    for path in paths:
        under = folders.get(_fold(path))
        if under is not None:
            out.setdefault(path, f"a file that is also the folder of {shown(under)}")
            out.setdefault(under, f"inside {shown(path)}, which is a file")
    return out
