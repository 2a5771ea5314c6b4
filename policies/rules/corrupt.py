"""`corrupt`: broken safetensors headers and a sharded index that disagrees with its shards."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.metadata import load_json
from policies.report import Violation


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    out = [Violation("corrupt", f"{path}: {why}") for path, why in sorted(manifest.header_errors.items())]
    owner: dict[str, str] = {}
    for path, header in sorted(manifest.headers.items()):
        for t in header.tensors:
            if t.name in owner:
                out.append(Violation("corrupt", f"tensor {t.name!r} is in both {owner[t.name]} and {path}"))
            owner.setdefault(t.name, path)
    for index_path in sorted(p for p in manifest.texts if p.endswith(".safetensors.index.json")):
        out.extend(_check_index(manifest, index_path, owner))
    return out


def _check_index(manifest: Manifest, index_path: str, owner: dict[str, str]) -> list[Violation]:
    doc, err = load_json(manifest, index_path)
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if err or not isinstance(weight_map, dict):
        return [Violation("corrupt", err or f"{index_path}: no weight_map object")]
    out = []
    folder = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
    shards = {v for v in weight_map.values() if isinstance(v, str)}
    missing = sorted(
        s for s in shards if folder + s not in manifest.headers and folder + s not in manifest.header_errors
    )
    if missing:
        out.append(Violation("corrupt", f"{index_path} names missing shard(s): {', '.join(missing[:5])}"))
    wrong = [n for n, s in weight_map.items() if isinstance(s, str) and n in owner and owner[n] != folder + s]
    absent = [n for n, s in weight_map.items() if folder + str(s) in manifest.headers and n not in owner]
    if wrong or absent:
        sample = ", ".join((wrong + absent)[:3])
        out.append(Violation("corrupt", f"{index_path} disagrees with the shard headers (e.g. {sample})"))
    return out
