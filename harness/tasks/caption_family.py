"""The caption family: procedural images (and an optional JSONL dataset) scored on the facts they assert
(against the scene truth) scaled by embedding similarity; JSONL tasks without a truth by similarity alone."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.tasks import caption_jsonl
from harness.tasks.taskset import rng_for
from scoring.caption import CaptionScorer

if TYPE_CHECKING:
    from harness.tasks.config import TasksConfig
    from harness.tasks.families import Answer


def _text_of(content: Any) -> str:
    """Message text; content given as parts keeps its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


@functools.cache
def _shared_scorer(batch_size: int) -> CaptionScorer:
    """One embedding model per process: loading it costs seconds, rounds come every few minutes."""
    return CaptionScorer(batch_size=batch_size)


class CaptionFamily:
    name = "caption"
    needs_vision = True
    id_prefix = "cap"
    count_setting = "caption_n"

    def generate(self, seed: str, n: int, config: TasksConfig) -> tuple[list[dict], dict[str, Any]]:
        from harness.tasks import caption_gen  # why: it draws with Pillow, which settings loading must not import

        n_jsonl = round(n * config.caption_jsonl_fraction) if config.caption_jsonl else 0
        tasks = caption_gen.generate(
            n - n_jsonl, rng_for(seed, "caption", "procedural"), config.image_size, config.caption_prompt
        )
        if n_jsonl and config.caption_jsonl:
            limits = caption_jsonl.ImageLimits(config.max_image_bytes, config.max_image_pixels)
            tasks += caption_jsonl.sample(
                config.caption_jsonl, config.caption_prompt, n_jsonl, rng_for(seed, "caption", "jsonl"), limits
            )
        settings = {
            "n": n,
            "image_size": config.image_size,
            "prompt": config.caption_prompt,
            "jsonl_fraction": config.caption_jsonl_fraction if n_jsonl else 0.0,
        }
        return tasks, settings

    def score(
        self, tasks: Sequence[dict], outcomes: Sequence[Answer], scoring: Any, resource: Any = None
    ) -> list[dict]:
        scorer = resource or _shared_scorer(scoring.caption_batch_size)
        scores = scorer.score(
            [_text_of(o.content) for o in outcomes],
            [t["references"] for t in tasks],
            [t.get("prompt", "") for t in tasks],
            scoring.caption_max_words,
            truths=[t.get("truth") for t in tasks],
        )
        return [
            {"score": s.score, "similarity": s.similarity, "penalty": s.penalty, "flags": list(s.flags)} for s in scores
        ]


FAMILY = CaptionFamily()
