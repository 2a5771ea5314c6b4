"""Facts of a report: what a reader wants to know about the model whether or not it is allowed."""

from __future__ import annotations

from typing import Any

from policies.manifest import Manifest
from policies.metadata import architectures, chat_templates, context_length, is_vision, license_of, load_json
from policies.printable import printable
from policies.rules.size import parameter_count


def facts_of(manifest: Manifest) -> dict[str, Any]:
    doc, _ = load_json(manifest, "config.json")
    config = doc if isinstance(doc, dict) else {}
    archs = [a for a in architectures(config) if isinstance(a, str)]
    licenses, _ = license_of(manifest)
    model_type = config.get("model_type")
    ctx = context_length(config)
    return {
        "revision": manifest.revision,
        "parameters": parameter_count(manifest),
        "total_bytes": sum(f.size for f in manifest.files),
        "dtypes": sorted({d for h in manifest.headers.values() for d in h.dtypes}),
        "architecture": archs[0] if archs else None,
        "model_type": model_type if isinstance(model_type, str) else None,
        "license": licenses[0] if len(licenses) == 1 else (licenses or None),
        "files": [{"path": printable(f.path), "size": f.size} for f in manifest.files],
        "vision": is_vision(manifest, config),
        "context_length": ctx if type(ctx) is int else None,
        "has_chat_template": bool(chat_templates(manifest).found),
    }
