"""Copying between the machine-wide shared cache and a data dir without ever following a symlink.

Why: `demo.shared_cache_dir` (default `~/.cache/harness`) may be writable by more than this validator: by other
clones, test runs, or another user on a shared machine. A symlink planted there used to be followed: the file it
pointed to (anything this user can read) was hard-linked into the data dir and then published in the Hub mirror,
and a directory symlink pointing at its own parent sent the copy into a `RecursionError`. Here a symlink
anywhere in what is shared refuses the share with one line (the seed then builds the model itself), links are
made with `follow_symlinks=False`, each placed file is checked to be a regular file, and the walk is a loop
over a stack, not recursion.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from harness.models.content_hash import NotRegularFile, open_regular


class SharedCacheError(OSError):
    """The shared cache holds something it must not (a symlink, a loop, a special file); the share is refused."""


def refuse_symlinks(*paths: Path) -> None:
    """Raise `SharedCacheError` if any of `paths` is a symlink (a dangling one and a loop included)."""
    for path in paths:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:  # a loop above it (ELOOP), a file where a folder should be (ENOTDIR), ...
            raise SharedCacheError(f"cannot use {path}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(mode):
            raise SharedCacheError(f"{path} is a symlink: the shared cache is never followed through links")


def same_dir(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are the same existing directory (compared by device and inode, not by `resolve()`,
    which raises `RuntimeError` on a symlink loop)."""
    try:
        first, second = os.stat(a), os.stat(b)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SharedCacheError(f"cannot use {exc.filename or a}: {exc.strerror or exc}") from None
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def link_tree(source: Path, target: Path) -> int:
    """Recreate the folder `source` at `target` (hardlinks where the filesystem allows, else copies); returns the
    number of files. Refuses, before or while placing anything, a symlink or anything but regular files and
    directories; the caller stages `target` and removes it on error."""
    refuse_symlinks(source)
    if not stat.S_ISDIR(os.lstat(source).st_mode):
        raise SharedCacheError(f"{source} is not a directory")
    target.mkdir()
    files = 0
    stack = [(source, target)]
    while stack:
        here, there = stack.pop()
        with os.scandir(here) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            src, dest = Path(entry.path), there / entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise SharedCacheError(f"{src} is a symlink: the shared cache is never followed through links")
            if stat.S_ISDIR(mode):
                dest.mkdir()
                stack.append((src, dest))
            elif stat.S_ISREG(mode):
                _place_file(src, dest)
                files += 1
            else:
                raise SharedCacheError(f"{src} is neither a regular file nor a directory")
    return files


def _place_file(src: Path, dest: Path) -> None:
    """Hardlink `src` (never through a symlink), else copy it from a descriptor opened with O_NOFOLLOW; either
    way the placed file must be a regular file (`src` may have been swapped for a link since it was listed)."""
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError:  # another filesystem (EXDEV), or hardlinks refused here (protected_hardlinks)
        try:
            fh = open_regular(src)
        except NotRegularFile as exc:
            raise SharedCacheError(str(exc)) from None
        except OSError as exc:
            raise SharedCacheError(f"cannot read {src}: {exc.strerror or exc}") from None
        with fh:
            with open(dest, "xb") as out:
                shutil.copyfileobj(fh, out)
            os.utime(dest, ns=_times(fh.fileno()))
    if not stat.S_ISREG(os.lstat(dest).st_mode):
        dest.unlink()
        raise SharedCacheError(f"{src} changed into a link while it was being shared")


def _times(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_atime_ns, info.st_mtime_ns


__all__ = ["SharedCacheError", "link_tree", "refuse_symlinks", "same_dir"]
