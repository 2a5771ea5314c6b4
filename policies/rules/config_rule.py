"""`config`: config.json present and sane, an architecture the engines serve, consistent with the weights."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.metadata import architectures, context_lengths, load_json, vocab_size
from policies.report import Violation

EMBEDDING_SUFFIXES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "tok_embeddings.weight")


def embedding_rows(manifest: Manifest) -> tuple[str, int] | None:
    """The token-embedding tensor (language model's, when a vision tower has its own) and its row count."""
    candidates = [
        (t.name, t.shape[0])
        for h in manifest.headers.values()
        for t in h.tensors
        if t.name.endswith(EMBEDDING_SUFFIXES) and t.shape and "vision" not in t.name
    ]
    candidates.sort(key=lambda c: ("language_model" not in c[0] and not c[0].startswith("model.embed"), c[0]))
    return candidates[0] if candidates else None


def lm_head_rows(manifest: Manifest) -> tuple[str, int] | None:
    for h in manifest.headers.values():
        for t in h.tensors:
            if t.name.endswith("lm_head.weight") and t.shape and "vision" not in t.name:
                return t.name, t.shape[0]
    return None


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    doc, err = load_json(manifest, "config.json")
    if err:
        return [Violation("config", err)]
    if doc is None:
        return [Violation("config", "config.json is missing")]
    if not isinstance(doc, dict):
        return [Violation("config", "config.json is not a JSON object")]
    out = []
    archs = architectures(doc)
    if not archs or not all(isinstance(a, str) for a in archs):
        out.append(Violation("config", "config.json has no `architectures` list"))
    else:
        allowed = set(config.allowed_architectures)
        bad = [a for a in archs if a not in allowed]
        if bad:
            out.append(Violation("config", f"architecture {', '.join(bad)} is not served by the engines (allowlist)"))
    for key, ctx in context_lengths(doc):
        if type(ctx) is not int or not 0 < ctx <= config.max_context_length:
            out.append(Violation("config", f"{key} {ctx!r} is not an integer in 1..{config.max_context_length}"))
    vocab = vocab_size(doc)
    rows = embedding_rows(manifest)
    if vocab is not None and (type(vocab) is not int or vocab <= 0):
        out.append(Violation("config", f"vocab_size {vocab!r} is not a positive integer"))
    elif vocab is not None:
        for name, count in [r for r in (rows, lm_head_rows(manifest)) if r]:
            if count != vocab:
                out.append(Violation("config", f"vocab_size {vocab} disagrees with {name} ({count} rows)"))
    return out
