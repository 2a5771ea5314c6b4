"""Diversity of the tool-call task space: what a template inverter or an answer-key lookup would have to cover.

Measured on 1,000 tasks of the default mix (perturbed BFCL v4 plus generated): distinct function names,
distinct request skeletons (the user's text with numbers, quoted strings and every argument value masked),
and the share of tasks from each source. Goals (issue 9): >= 300 distinct function names, >= 80% distinct
skeletons. Also records how many seconds building the set takes and that a rebuild gives the same bytes.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

from harness.tasks import build_family, canonical_bytes
from harness.tasks.config import TasksConfig

TASKS = 1000
SEED = "bench-tasks"
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_QUOTED = re.compile(r"\"[^\"\n]{0,80}\"|(?<!\w)'[^'\n]{0,80}'(?!\w)")


def _values(answer: Any) -> list[str]:
    """Every string spelled in a ground truth (argument values at any depth)."""
    if isinstance(answer, str):
        return [answer] if len(answer) > 2 else []
    if isinstance(answer, list):
        return [v for item in answer for v in _values(item)]
    if isinstance(answer, dict):
        return [v for item in answer.values() for v in _values(item)]
    return []


def skeleton(task: dict) -> str:
    text = "\n".join(m["content"] for m in task["messages"] if m["role"] == "user" and isinstance(m["content"], str))
    for value in sorted(set(_values(task["possible_answer"])), key=len, reverse=True):
        text = re.sub(re.escape(value), "<V>", text, flags=re.IGNORECASE)
    text = _QUOTED.sub("<Q>", text)
    return _NUMBER.sub("<N>", text).lower()


def run() -> dict:
    config = TasksConfig()
    started = time.perf_counter()
    task_set = build_family(SEED, "toolcall", TASKS, config)
    build_s = time.perf_counter() - started
    tasks = task_set["tasks"]
    names = {f["name"] for t in tasks for f in t["functions"]}
    called = {next(iter(a)) for t in tasks for a in t["possible_answer"]}
    skeletons = Counter(skeleton(t) for t in tasks)
    sources = Counter(t["source"].split(":")[0] for t in tasks)
    generated = [t for t in tasks if t["source"] == "generated"]
    generated_skeletons = {skeleton(t) for t in generated}
    return {
        "tasks": len(tasks),
        "distinct_function_names": len(names),
        "distinct_called_function_names": len(called),
        "distinct_generated_function_names": len({f["name"] for t in generated for f in t["functions"]}),
        "distinct_skeletons": len(skeletons),
        "distinct_skeleton_share": round(len(skeletons) / len(tasks), 4),
        "generated_distinct_skeleton_share": round(len(generated_skeletons) / max(1, len(generated)), 4),
        "most_repeated_skeleton_count": skeletons.most_common(1)[0][1],
        "source_share": {s: round(c / len(tasks), 4) for s, c in sorted(sources.items())},
        "category_share": {
            c: round(n / len(tasks), 4) for c, n in sorted(Counter(t["category"] for t in tasks).items())
        },
        "bfcl_perturbed_share": round(
            sum(t.get("perturbed", False) for t in tasks if t["source"].startswith("bfcl:"))
            / max(1, sources.get("bfcl", 0)),
            4,
        ),
        "build_s": round(build_s, 3),
        "same_bytes_on_rebuild": canonical_bytes(build_family(SEED, "toolcall", TASKS, config))
        == canonical_bytes(task_set),
        "goals": {"distinct_function_names": ">= 300", "distinct_skeleton_share": ">= 0.8"},
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
