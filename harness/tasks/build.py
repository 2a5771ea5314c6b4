"""Build the task set of a round: (seed, family, n, settings) -> the same bytes on every validator."""

from __future__ import annotations

from harness.tasks import bfcl, caption_gen, caption_jsonl, toolcall_gen
from harness.tasks.config import TasksConfig
from harness.tasks.taskset import make_task_set, merge_task_sets, rng_for

FAMILIES = ("toolcall", "caption")


def _number(tasks: list[dict], prefix: str) -> list[dict]:
    return [{"id": f"{prefix}-{i:04d}", **task} for i, task in enumerate(tasks)]


def build_family(seed: str, family: str, n: int, config: TasksConfig) -> dict:
    if family == "toolcall":
        n_bfcl = round(n * config.bfcl_fraction)
        tasks = toolcall_gen.generate(n - n_bfcl, config.toolcall_categories, rng_for(seed, "toolcall", "generated"))
        if n_bfcl:
            data_dir = config.bfcl_data_dir or bfcl.default_data_dir()
            tasks += bfcl.sample(data_dir, config.bfcl_categories, n_bfcl, rng_for(seed, "toolcall", "bfcl"))
        rng_for(seed, "toolcall", "order").shuffle(tasks)
        settings = {
            "n": n,
            "categories": config.toolcall_categories,
            "bfcl_fraction": config.bfcl_fraction,
            "bfcl_categories": config.bfcl_categories if n_bfcl else [],
        }
    elif family == "caption":
        n_jsonl = round(n * config.caption_jsonl_fraction) if config.caption_jsonl else 0
        rng = rng_for(seed, "caption", "procedural")
        tasks = caption_gen.generate(n - n_jsonl, rng, config.image_size, config.caption_prompt)
        if n_jsonl and config.caption_jsonl:
            tasks += caption_jsonl.sample(
                config.caption_jsonl, config.caption_prompt, n_jsonl, rng_for(seed, "caption", "jsonl")
            )
        settings = {
            "n": n,
            "image_size": config.image_size,
            "prompt": config.caption_prompt,
            "jsonl_fraction": config.caption_jsonl_fraction if n_jsonl else 0.0,
        }
    else:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return make_task_set(seed, family, settings, _number(tasks, "tc" if family == "toolcall" else "cap"))


def build_for_competition(seed: str, families: dict[str, float], config: TasksConfig) -> dict:
    """All families a competition weighs above zero, in a fixed order, as one set."""
    parts = []
    for family in FAMILIES:
        if families.get(family, 0) > 0:
            n = config.toolcall_n if family == "toolcall" else config.caption_n
            parts.append(build_family(seed, family, n, config))
    return merge_task_sets(seed, parts)
