"""Captions a miner would try without looking at the image, built from the same public code a miner reads.

Shared by the caption scoring tests, the fairness tests and `python -m tests.support.caption_table` (the tables of
docs/captions.md): a fixed caption that never looks at the image, the right sentence with every colour wrong, lists
of every colour and shape word, hedging over colours, and the accurate `describe` captions they are measured against.
"""

from __future__ import annotations

import random
import re

from harness.tasks import caption_gen
from scoring.caption import CaptionScorer

PROMPT = "Describe this image in one short sentence."
N_GOAL_SCENES = 200

FIXED_CAPTIONS = (
    "Two red circles and a blue square on a white background.",
    "A simple image with a few colourful geometric shapes on a plain background.",
    "Three small black stars to the left of a large yellow circle on a light grey background.",
    'One green triangle above two orange squares on a pale blue background with the word "STOP".',
)
ALL_WORDS = " ".join([*caption_gen.COLOURS, *caption_gen.SHAPES])
WORD_LISTS = (
    ALL_WORDS,
    ", ".join([*caption_gen.COLOURS, *caption_gen.SHAPES]) + ".",
    "Shapes: " + ", ".join(f"{c} {s}" for c, s in zip(caption_gen.COLOURS, caption_gen.SHAPES, strict=False)),
)


def with_colours_wrong(caption: str, truth: dict, rng: random.Random) -> str:
    """Every colour word swapped for another colour: objects for a colour absent from the scene."""
    present = {name.split()[0] for name in truth["counts"]}
    background = truth["background"].split()[-1]
    absent = [c for c in caption_gen.COLOURS if c not in present and c != background]
    rng.shuffle(absent)
    swap = {colour: absent[i] for i, colour in enumerate(sorted(present))}
    swap[background] = next(c for c in ("white", "grey", "blue", "yellow", "green") if c != background)
    return re.sub(r"\b(" + "|".join(swap) + r")\b", lambda m: swap[m.group(1)], caption)


def hedge(truth: dict) -> str:
    """Name the right group among every other colour for the same shape: one of ten is right."""
    shape = next(iter(truth["counts"])).split()[1]
    return " or ".join(f"a {c} {shape}" for c in caption_gen.COLOURS) + "."


def score_all(scorer: CaptionScorer, tasks: list[dict], captions: list[str]) -> list[float]:
    """Each caption scored against its own task, all in one batch as a round scores them."""
    results = scorer.score(
        captions, [t["references"] for t in tasks], [PROMPT] * len(tasks), truths=[t["truth"] for t in tasks]
    )
    return [r.score for r in results]


def accurate_describe(tasks: list[dict]) -> list[str]:
    """Accurate captions by the references' own writer, seeded apart so their wording differs from the references."""
    return [caption_gen.describe(t["truth"], random.Random(f"accurate-{i}")) for i, t in enumerate(tasks)]
