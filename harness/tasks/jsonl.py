"""The one JSONL reader of the harness: BFCL files, private pools, caption datasets and recorded outputs.

Every file it reads comes from outside (a dataset, an operator, a miner), so a bad file is a one-line error
naming the file and the line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def read_objects(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; `what` names the file in errors ("outputs file")."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise HarnessError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {what} {path}: {exc}") from None
    return parse_objects(lines, str(path))


def parse_objects(lines: list[str], where: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of text already read; `where` names it in errors."""
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{where}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise HarnessError(f"{where}:{number}: not a JSON object")
        rows.append((number, row))
    return rows
