"""Run every rule over a manifest and assemble the report; the list of files a fetch may download."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.facts import facts_of
from policies.kinds import kind_of
from policies.manifest import Manifest, escapes_root
from policies.report import PolicyReport, Violation
from policies.rules import RULES


def evaluate(manifest: Manifest, config: PolicyConfig | None = None, model: str | None = None) -> PolicyReport:
    config = config or PolicyConfig()
    report = PolicyReport(model=model or manifest.source, facts=facts_of(manifest))
    if manifest.refused:  # nothing was read: any other rule would only report files as missing
        report.violations.append(Violation("names", manifest.refused))
        return report
    for rule in RULES:
        report.violations.extend(rule(manifest, config))
    return report


def download_files(manifest: Manifest, config: PolicyConfig | None = None) -> list[str]:
    """Files a fetch downloads (and the content hash covers): every regular file of an allowlisted kind that
    the engines need (weights, configs, tokenizer, templates, text), sorted. Images of the model card are
    allowed in a repo but not fetched. Only call this for an allowed model: then nothing else is in the repo.
    """
    out = []
    for f in manifest.files:
        if (
            f.kind != "file"
            or escapes_root(f.path)
            or f.path in manifest.kind_errors
            or f.path in manifest.header_errors
            or f.path in manifest.name_errors
        ):
            continue
        kind = kind_of(f.path)
        if kind is not None and kind.downloaded:
            out.append(f.path)
    return sorted(out)
