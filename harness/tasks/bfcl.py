"""Tasks from BFCL-format files: one JSON object a line with `id`, `question` (turns of chat messages) and
`function` (docs), plus `possible_answer/<same file name>` holding `{"id", "ground_truth"}` lines.

Works on the data `bfcl_eval` ships (`bfcl_eval/data/BFCL_v4_<category>.json`) or any folder in that layout.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.errors import HarnessError
from harness.tasks.prompts import openai_tools, toolcall_messages


def default_data_dir() -> Path:
    try:
        import bfcl_eval
    except ImportError:
        raise HarnessError("BFCL data needs the bfcl-eval package or tasks.bfcl_data_dir") from None
    return Path(bfcl_eval.__file__).parent / "data"


def _category_name(file_category: str) -> str:
    """BFCL file names say `simple_python`; the checker's category is `simple`."""
    return "simple" if file_category == "simple_python" else file_category


def _read_jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise HarnessError(f"BFCL file not found: {path}") from None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return out


def load_category(data_dir: Path, file_category: str) -> list[dict]:
    """All tasks of one BFCL file, in file order."""
    questions = _read_jsonl(data_dir / f"BFCL_v4_{file_category}.json")
    category = _category_name(file_category)
    if "irrelevance" in category:
        answers: dict[str, list] = {q["id"]: [] for q in questions}
    else:
        answers = {
            a["id"]: a["ground_truth"]
            for a in _read_jsonl(data_dir / "possible_answer" / f"BFCL_v4_{file_category}.json")
        }
    tasks = []
    for q in questions:
        if q.get("id") not in answers or not q.get("question") or not isinstance(q.get("function"), list):
            continue
        conversation = [m for m in q["question"][0] if isinstance(m, dict)]
        tasks.append(
            {
                "family": "toolcall",
                "category": category,
                "source": f"bfcl:{q['id']}",
                "functions": q["function"],
                "tools": openai_tools(q["function"]),
                "messages": toolcall_messages(q["function"], conversation),
                "possible_answer": answers[q["id"]],
            }
        )
    return tasks


def sample(data_dir: Path, file_categories: list[str], n: int, rng: random.Random) -> list[dict]:
    pool = [task for category in file_categories for task in load_category(data_dir, category)]
    if not pool:
        raise HarnessError(f"no BFCL tasks found in {data_dir} for {file_categories}")
    return rng.sample(pool, min(n, len(pool)))
