"""Reader for a model folder on disk: lists entries without following symlinks, reads byte ranges.

Files are opened with O_NOFOLLOW|O_NONBLOCK and checked to be regular after opening, so a symlink or FIFO
swapped in between listing and reading is neither followed nor blocks the check.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from policies.errors import CheckError
from policies.manifest import FileEntry

# Tool-owned folders that are not part of a model: git metadata, huggingface_hub's local-dir bookkeeping.
SKIPPED_DIRS = frozenset({".git", ".cache/huggingface"})


class LocalReader:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.source = str(root)
        self.revision: str | None = None
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            raise CheckError(f"no such model folder: {self.root}") from None
        except OSError as exc:
            raise CheckError(f"cannot read {self.root}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise CheckError(f"not a model folder (expected a directory): {self.root}")

    def entries(self) -> list[FileEntry]:
        """Every entry under the root; iterative, so a hostile folder nested thousands deep cannot blow the stack."""
        found: list[FileEntry] = []
        pending = [(self.root, "")]
        while pending:
            folder, prefix = pending.pop()
            for item in self._list(folder):
                rel = prefix + item.name
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError as exc:
                    raise CheckError(f"cannot stat {item.path}: {exc.strerror or exc}") from None
                if stat.S_ISLNK(st.st_mode):
                    found.append(FileEntry(rel, 0, "symlink", target=_readlink(item.path)))
                elif stat.S_ISDIR(st.st_mode):
                    if rel not in SKIPPED_DIRS:
                        pending.append((Path(item.path), rel + "/"))
                elif stat.S_ISREG(st.st_mode):
                    found.append(FileEntry(rel, st.st_size, "file"))
                else:
                    found.append(FileEntry(rel, 0, "special"))
        return found

    @staticmethod
    def _list(folder: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as it:
                return list(it)
        except OSError as exc:
            raise CheckError(f"cannot list {folder}: {exc.strerror or exc}") from None

    def read_range(self, path: str, start: int, length: int) -> bytes:
        full = self.root / path
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise CheckError(f"cannot read {full}: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CheckError(f"cannot read {full}: no longer a regular file")
            return os.pread(fd, length, start)
        except OSError as exc:
            raise CheckError(f"cannot read {full}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
