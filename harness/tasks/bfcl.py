"""Tasks from BFCL-format data: the BFCL v4 files `bfcl_eval` ships, and an operator's private pool.

BFCL layout: one JSON object a line with `id`, `question` (turns of chat messages) and `function` (docs), plus
`possible_answer/<same file name>` holding `{"id", "ground_truth"}` lines (irrelevance files have none).
A private pool is one JSONL file in the same form with the ground truth inline (`ground_truth`; absent or `[]`
for an irrelevance entry) and an optional `category` (else taken from the id, `simple_12` -> `simple`).

Public entries are perturbed per round (`bfcl_perturb`) so that a memorised answer key fails; the operator's
private pool is never published, so it is used as written.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping
from pathlib import Path

from harness.errors import HarnessError
from harness.tasks.bfcl_perturb import perturb
from harness.tasks.bfcl_values import ValuePool, value_pool
from harness.tasks.jsonl import read_objects
from harness.tasks.prompts import openai_tools, toolcall_messages
from harness.tasks.truth import calls_from_truth
from scoring.toolcall import check

CHECKER_CATEGORIES = (
    "simple",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
)


def default_data_dir() -> Path:
    try:
        import bfcl_eval
    except ImportError:
        raise HarnessError("BFCL data needs the bfcl-eval package or tasks.bfcl_data_dir") from None
    return Path(bfcl_eval.__file__).parent / "data"


def category_name(file_category: str) -> str:
    """BFCL file names say `simple_python`; the checker's category is `simple`."""
    return "simple" if file_category == "simple_python" else file_category


def _read_jsonl(path: Path) -> list[dict]:
    return [row for _number, row in read_objects(path, "BFCL file")]


def _entry(question: dict, answer: list, category: str, source: str) -> dict | None:
    """(functions, conversation, answer, category, source) of one BFCL line; None when it is not usable."""
    turns = question.get("question")
    functions = question.get("function")
    if not isinstance(turns, list) or not turns or not isinstance(turns[0], list) or not isinstance(functions, list):
        return None
    conversation = [m for m in turns[0] if isinstance(m, dict)]
    if not conversation:
        return None
    return {
        "functions": functions,
        "conversation": conversation,
        "answer": answer,
        "category": category,
        "source": source,
    }


@functools.cache
def _load_category_cached(data_dir: str, file_category: str) -> tuple[dict, ...]:
    path = Path(data_dir)
    questions = _read_jsonl(path / f"BFCL_v4_{file_category}.json")
    category = category_name(file_category)
    if "irrelevance" in category:
        answers: dict[str, list] = {q.get("id"): [] for q in questions}
    else:
        answers = {
            a.get("id"): a.get("ground_truth")
            for a in _read_jsonl(path / "possible_answer" / f"BFCL_v4_{file_category}.json")
        }
    out = []
    for q in questions:
        if q.get("id") in answers and isinstance(answers[q["id"]], list):
            entry = _entry(q, answers[q["id"]], category, f"bfcl:{q['id']}")
            if entry is not None:
                out.append(entry)
    return tuple(out)


def load_entries(data_dir: Path, file_category: str) -> list[dict]:
    """All usable entries of one BFCL file, in file order (read once per process)."""
    return list(_load_category_cached(str(data_dir), file_category))


def answerable(entry: dict) -> bool:
    """Does the entry's own answer key pass the checker? A handful of BFCL entries' keys fail BFCL's own
    checker; no model can be right on those, so they are not sampled (and are counted, see docs/tasks.md)."""

    return check(entry["functions"], calls_from_truth(entry["answer"], 0), entry["answer"], entry["category"]).valid


@functools.cache
def _answerable_cached(data_dir: str, file_category: str) -> tuple[dict, ...]:
    return tuple(e for e in _load_category_cached(data_dir, file_category) if answerable(e))


def sampled_entries(data_dir: Path, file_category: str) -> list[dict]:
    """The entries a round samples from: every usable one whose answer key passes the checker."""
    return list(_answerable_cached(str(data_dir), file_category))


def to_task(entry: dict) -> dict:
    return {
        "family": "toolcall",
        "category": entry["category"],
        "source": entry["source"],
        "functions": entry["functions"],
        "tools": openai_tools(entry["functions"]),
        "messages": toolcall_messages(entry["functions"], entry["conversation"]),
        "possible_answer": entry["answer"],
    }


def perturbed_task(
    entry: dict, rng: random.Random, distractor_pool: list[dict], value_pool: ValuePool | None = None
) -> tuple[dict, bool]:
    """(task, whether it could be perturbed); an entry that cannot be perturbed safely is used as is."""
    result = perturb(
        entry["functions"], entry["conversation"], entry["answer"], entry["category"], rng, distractor_pool, value_pool
    )
    task = to_task(
        {**entry, "functions": result.functions, "conversation": result.conversation, "answer": result.answer}
    )
    task["perturbed"] = result.perturbed
    return task, result.perturbed


def _weighted_counts(n: int, weights: Mapping[str, float], rng: random.Random) -> dict[str, int]:
    names = sorted(c for c, w in weights.items() if w > 0)
    counts = dict.fromkeys(names, 0)
    for name in rng.choices(names, weights=[weights[c] for c in names], k=n):
        counts[name] += 1
    return counts


def sample(data_dir: Path, categories: Mapping[str, float], n: int, rng: random.Random) -> list[dict]:
    """`n` perturbed tasks, categories drawn by weight, entries without replacement within a category (with
    replacement beyond a category's size)."""
    if n <= 0:
        return []
    pools = {c: sampled_entries(data_dir, c) for c in sorted(categories) if categories[c] > 0}
    if not any(pools.values()):
        raise HarnessError(f"no BFCL tasks found in {data_dir} for {sorted(categories)}")
    distractor_pool = [f for c in sorted(pools) for e in pools[c] for f in e["functions"] if isinstance(f, dict)]
    values = _value_pool_cached(str(data_dir), tuple(sorted(pools)))
    tasks = []
    for category, count in _weighted_counts(n, {c: w for c, w in categories.items() if pools.get(c)}, rng).items():
        pool = pools[category]
        chosen = rng.sample(pool, min(count, len(pool)))
        chosen += rng.choices(pool, k=count - len(chosen))  # a small file repeats entries, each perturbed afresh
        tasks += [perturbed_task(entry, rng, distractor_pool, values)[0] for entry in chosen]
    return tasks


@functools.cache
def _value_pool_cached(data_dir: str, file_categories: tuple[str, ...]) -> ValuePool:
    """Strings BFCL questions state, by parameter kind, over the sampled categories (what values re-sample from)."""
    return value_pool([e for c in file_categories for e in _answerable_cached(data_dir, c)])


def bfcl_value_pool(data_dir: Path, file_categories: list[str]) -> ValuePool:
    """The value pool `sample` perturbs with, for callers that perturb entries themselves (tests, benches)."""
    return _value_pool_cached(str(data_dir), tuple(sorted(file_categories)))


_ID_CATEGORY = re.compile(r"^(.*?)_\d+(?:-.*)?$")


def load_private_pool(path: Path) -> list[dict]:
    """Entries of an operator's private JSONL pool; a bad line is a one-line error naming it."""
    return pool_entries(_read_jsonl(Path(path)), str(path), "private")


def pool_entries(rows: list[dict], name: str, origin: str) -> list[dict]:
    """Entries of BFCL-format pool lines (a private pool, a curator's feed batch); `origin` prefixes each
    entry's source (`private:ID`, `feed:ID`); a bad line is a one-line error naming `name:line`."""
    entries = []
    for number, row in enumerate(rows, 1):
        where = f"{name}:{number}"
        answer = row.get("ground_truth", [])
        if not isinstance(answer, list) or not all(isinstance(a, dict) and len(a) == 1 for a in answer):
            raise HarnessError(f"{where}: 'ground_truth' must be a list of {{function: {{param: [values]}}}}")
        category = row.get("category")
        if category is None:
            match = _ID_CATEGORY.match(str(row.get("id", "")))
            category = category_name(match.group(1)) if match else ("irrelevance" if not answer else "")
        if category not in CHECKER_CATEGORIES:
            raise HarnessError(f"{where}: unknown category {category!r}; known: {', '.join(CHECKER_CATEGORIES)}")
        entry = _entry(row, answer, category, f"{origin}:{row.get('id', number)}")
        if entry is None:
            raise HarnessError(f"{where}: needs 'question' (a list of turns of messages) and 'function' (a list)")
        entries.append(entry)
    if not entries:
        raise HarnessError(f"{origin} pool {name} holds no entries")
    return entries


def sample_private(path: Path, n: int, rng: random.Random) -> list[dict]:
    return sample_entries(load_private_pool(path), n, rng)


def sample_entries(entries: list[dict], n: int, rng: random.Random) -> list[dict]:
    """`n` tasks from held-out entries (a private pool, a feed batch), used as written: without replacement
    while the entries last."""
    if n <= 0:
        return []
    return [to_task(e) for e in (rng.sample(entries, n) if n <= len(entries) else rng.choices(entries, k=n))]
