"""A task set: plain JSON, canonical bytes, and the sha256 that every report records.

Validators must agree on the tasks of a round without talking to each other, so a task set is a pure function
of (seed, settings) and is compared by hash. Canonical form: sorted keys, no whitespace, UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

FORMAT = "harness-tasks/1"


def canonical_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


def rng_for(seed: str, *purpose: str) -> random.Random:
    """An independent stream per purpose, so adding a family never shifts another family's tasks."""
    digest = hashlib.sha256("\x1f".join((str(seed), *purpose)).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def make_task_set(seed: str, family: str, settings: dict[str, Any], tasks: list[dict]) -> dict:
    return {"format": FORMAT, "seed": str(seed), "family": family, "settings": settings, "tasks": tasks}


def write_task_set(task_set: dict, path: Path) -> str:
    data = canonical_bytes(task_set)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def load_task_set(path: Path) -> dict:
    """Read a task set file; a bad file is a one-line error, not a traceback."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise HarnessError(f"task file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"task file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tasks"), list):
        raise HarnessError(f"task file {path} is not a {FORMAT} task set")
    return data


def merge_task_sets(seed: str, parts: list[dict]) -> dict:
    """One set holding several families (an evaluation of a multi-family competition)."""
    tasks = [t for part in parts for t in part["tasks"]]
    settings = {part["family"]: part["settings"] for part in parts}
    return make_task_set(seed, "+".join(part["family"] for part in parts), settings, tasks)
