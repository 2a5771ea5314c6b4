"""Typed views of a manifest's metadata files: config.json, the model card, chat templates.

Parsing is lenient here (a bad file gives None plus an error string) because the rules decide what a
missing or broken file means; nothing in this module raises on hostile content.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies import jsonbound
from policies.frontmatter import FrontMatterError, licenses_of, parse_front_matter
from policies.manifest import Manifest

VISION_ARCH_HINTS = ("ConditionalGeneration", "VLForCausalLM", "Phi3VForCausalLM", "Llava", "Vision")
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "image_processor_config.json")
CONTEXT_KEYS = ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions", "n_ctx")


def _memo(manifest: Manifest, key: str, compute):  # type: ignore[no-untyped-def]
    """Several rules and the facts read the same files: parse each once per manifest."""
    if key not in manifest.derived:
        manifest.derived[key] = compute()
    return manifest.derived[key]


def load_json(manifest: Manifest, path: str) -> tuple[object | None, str | None]:
    """(document, error); (None, None) when the file is absent. Callers must not mutate the document."""
    return _memo(manifest, f"json:{path}", lambda: _load_json(manifest, path))


def _load_json(manifest: Manifest, path: str) -> tuple[object | None, str | None]:
    if path in manifest.text_errors:
        return None, f"{path} is {manifest.text_errors[path]}"
    data = manifest.texts.get(path)
    if data is None:
        return None, None
    try:
        return jsonbound.loads(data), None
    except jsonbound.JsonLimitError as exc:
        return None, f"{path} is not valid JSON: {exc}"


@dataclass
class Templates:
    """Every chat template found, by where it came from, plus files that could not be read as templates."""

    found: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def chat_templates(manifest: Manifest) -> Templates:
    return _memo(manifest, "templates", lambda: _chat_templates(manifest))


def _chat_templates(manifest: Manifest) -> Templates:
    out = Templates()
    tok, err = load_json(manifest, "tokenizer_config.json")
    if err:
        out.errors.append(err)
    if isinstance(tok, dict) and "chat_template" in tok:
        _collect(tok["chat_template"], "tokenizer_config.json", out)
    for path in sorted(manifest.texts):
        if path == "chat_template.jinja" or path.startswith("additional_chat_templates/"):
            try:
                out.found[path] = manifest.texts[path].decode("utf-8")
            except UnicodeDecodeError:
                out.errors.append(f"{path} is not UTF-8")
    proc, _ = load_json(manifest, "processor_config.json")
    if isinstance(proc, dict) and "chat_template" in proc:
        _collect(proc["chat_template"], "processor_config.json", out)
    doc, err = load_json(manifest, "chat_template.json")
    if err:
        out.errors.append(err)
    if isinstance(doc, dict) and "chat_template" in doc:
        _collect(doc["chat_template"], "chat_template.json", out)
    elif doc is not None:
        out.errors.append("chat_template.json has no chat_template key")
    for path, why in manifest.text_errors.items():
        if path.endswith(".jinja"):
            out.errors.append(f"{path} is {why}")
    return out


def _collect(value: object, where: str, out: Templates) -> None:
    if isinstance(value, str):
        out.found[where] = value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                out.found[f"{where}[{item.get('name', i)}]"] = item["template"]
            else:
                out.errors.append(f"{where}: chat_template[{i}] is not a {{name, template}} object")
    elif value is not None:
        out.errors.append(f"{where}: chat_template is neither a string nor a list")


def license_of(manifest: Manifest) -> tuple[list[str], str | None]:
    """(declared licenses, error)."""
    return _memo(manifest, "license", lambda: _license_of(manifest))


def _license_of(manifest: Manifest) -> tuple[list[str], str | None]:
    if "README.md" in manifest.text_errors:
        return [], f"README.md is {manifest.text_errors['README.md']}"
    data = manifest.texts.get("README.md")
    if data is None:
        return [], "no model card (README.md)"
    try:
        return licenses_of(parse_front_matter(data)), None
    except FrontMatterError as exc:
        return [], str(exc)


def text_config(config: dict) -> dict:
    sub = config.get("text_config")
    return sub if isinstance(sub, dict) else {}


def context_length(config: dict) -> object | None:
    for source in (config, text_config(config)):
        for key in CONTEXT_KEYS:
            if key in source:
                return source[key]
    return None


def context_lengths(config: dict) -> list[tuple[str, object]]:
    """Every context-length field of the config and its text_config, as (key, value)."""
    found = [(key, config[key]) for key in CONTEXT_KEYS if key in config]
    sub = text_config(config)
    return found + [(f"text_config.{key}", sub[key]) for key in CONTEXT_KEYS if key in sub]


def vocab_size(config: dict) -> object | None:
    return config.get("vocab_size", text_config(config).get("vocab_size"))


def architectures(config: dict) -> list:
    value = config.get("architectures")
    return value if isinstance(value, list) else []


def is_vision(manifest: Manifest, config: dict) -> bool:
    if isinstance(config.get("vision_config"), dict):
        return True
    if any(isinstance(a, str) and any(h in a for h in VISION_ARCH_HINTS) for a in architectures(config)):
        return True
    return any(p in manifest.texts or p in manifest.text_errors for p in IMAGE_PROCESSOR_FILES)
