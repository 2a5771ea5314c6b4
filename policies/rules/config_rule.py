"""`config`: config.json present and sane, an architecture the engines serve, consistent with the weights."""

from __future__ import annotations

from policies.architectures import TEXT_MODEL_TYPES, expected_model_types
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


def _vision_tower(doc: dict, archs: list[str], config: PolicyConfig) -> list[Violation]:
    """An adaptor architecture (Llava) is only as servable as the tower it wraps: sglang resolves the tower in its
    own registry, so an allowed architecture with a tower it lacks would fail at load, as the miner's crash."""
    vision = doc.get("vision_config")
    tower = vision.get("model_type") if isinstance(vision, dict) else None
    strategy = doc.get("vision_feature_select_strategy", "default")
    out = []
    for arch in archs:
        towers = config.vision_towers.get(arch)
        if towers and tower not in towers:
            out.append(
                Violation("config", f"{arch} with vision tower {tower!r} is not served (accepted: {', '.join(towers)})")
            )
        strategies = config.vision_select_strategies.get(arch)
        if strategies and strategy not in strategies:
            out.append(
                Violation(
                    "config",
                    f"{arch} with vision_feature_select_strategy {strategy!r} is not served "
                    f"(accepted: {', '.join(strategies)})",
                )
            )
    return out


def _model_type(doc: dict, archs: list[str]) -> list[Violation]:
    """`model_type` is what the engines resolve the model by: it must be the one each named architecture has, and
    a vision model's language tower must be one the engines serve."""
    model_type = doc.get("model_type")
    out = []
    for arch in archs:
        expected = expected_model_types(arch)
        if expected is None:
            continue  # an architecture the operator added to the allowlist: nothing known to compare
        if not (isinstance(model_type, str) and model_type in expected):
            shown = repr(model_type) if isinstance(model_type, str) else "missing"
            out.append(
                Violation(
                    "config",
                    f"model_type {shown[:80]} disagrees with architecture {arch} "
                    f"(expected {', '.join(sorted(expected))}); the engines build the model from model_type",
                )
            )
    text = doc.get("text_config")
    text_type = text.get("model_type") if isinstance(text, dict) else None
    if text_type is not None and not (isinstance(text_type, str) and text_type in TEXT_MODEL_TYPES):
        shown = repr(text_type) if isinstance(text_type, str) else type(text_type).__name__
        out.append(
            Violation("config", f"text_config.model_type {shown[:80]} is not a language model the engines serve")
        )
    return out


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    doc, err = load_json(manifest, "config.json")
    if err:
        return [Violation("config", err)]
    if doc is None:
        if "config.json" in manifest.name_errors:
            return []  # present under a name `names` refuses (so never read): that is the violation
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
    named = [a for a in archs if isinstance(a, str)]
    out += _model_type(doc, [a for a in named if a in config.allowed_architectures])
    out += _vision_tower(doc, named, config)
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
