"""`remote-code`: code files anywhere in the repo, and `auto_map` entries (local or cross-repo) in configs."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.metadata import load_json
from policies.report import Violation


def _references(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    suffixes = tuple(s.lower() for s in config.code_extensions)
    out = [
        Violation("remote-code", f"{f.path}: code file in the repo")
        for f in manifest.files
        if f.path.lower().endswith(suffixes)
    ]
    for path in sorted(manifest.texts):
        if not path.endswith(".json"):
            continue
        doc, _ = load_json(manifest, path)
        if not isinstance(doc, dict):
            continue
        for key in ("auto_map", "custom_pipelines"):
            value = doc.get(key)
            if not value:
                continue
            refs = [r for v in (value.values() if isinstance(value, dict) else [value]) for r in _references(v)]
            cross = sorted({r.split("--", 1)[0] for r in refs if "--" in r})
            where = f" including code from other repos ({', '.join(cross)})" if cross else ""
            out.append(Violation("remote-code", f"{path}: {key} asks for custom code{where}"))
    return out
