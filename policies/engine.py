"""Run every rule over a manifest and assemble the report; the list of files a fetch may download."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.facts import facts_of
from policies.manifest import Manifest, escapes_root
from policies.report import PolicyReport
from policies.rules import RULES


def evaluate(manifest: Manifest, config: PolicyConfig | None = None, model: str | None = None) -> PolicyReport:
    config = config or PolicyConfig()
    report = PolicyReport(model=model or manifest.source, facts=facts_of(manifest))
    for rule in RULES:
        report.violations.extend(rule(manifest, config))
    return report


def download_files(manifest: Manifest, config: PolicyConfig | None = None) -> list[str]:
    """Files a fetch downloads (and the content hash covers): every safetensors file plus every other regular
    file up to `max_download_file_bytes`, minus what the rules would refuse (code, pickles). Sorted.

    Large non-safetensors files (a GGUF beside the safetensors, say) are left out on purpose: the engines load
    safetensors, and the hash commits to exactly this list.
    """
    config = config or PolicyConfig()
    refused = tuple(s.lower() for s in (*config.pickle_extensions, *config.code_extensions))
    out = []
    for f in manifest.files:
        if f.kind != "file" or escapes_root(f.path) or f.path.lower().endswith(refused):
            continue
        if f.path.endswith(".safetensors") or f.size <= config.max_download_file_bytes:
            out.append(f.path)
    return sorted(out)
