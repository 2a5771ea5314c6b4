"""Report files a command writes: checked writable before a long run, written whole or not at all.

A `--out` folder that cannot be written must fail in the first second, not after minutes of evaluation; a
full disk or a permission error while writing is one line (exit 2) and leaves no half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from harness.errors import HarnessError


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def ensure_writable_dir(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be created in it (then remove the probe)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HarnessError(f"cannot write into {folder}: {_why(exc)}") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, fsync, rename; on any OSError remove the temporary file."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {_why(exc)}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_texts_atomically(files: dict[Path, str]) -> None:
    """Several files as one outcome: if any write fails, the ones already written by this call are removed."""
    done: list[Path] = []
    try:
        for path, text in files.items():
            write_text_atomically(path, text)
            done.append(path)
    except HarnessError:
        for path in done:
            path.unlink(missing_ok=True)
        raise
