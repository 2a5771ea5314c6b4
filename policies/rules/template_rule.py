"""`template`: a chat template must exist, and every template found must pass the static audit."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.metadata import chat_templates
from policies.report import Violation
from policies.template import check_template


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    found = chat_templates(manifest)
    out = [Violation("template", err) for err in found.errors]
    if not found.found and config.require_chat_template and not found.errors:
        out.append(Violation("template", "no chat template (tokenizer_config.json, chat_template.jinja or .json)"))
    for where, source in sorted(found.found.items()):
        out.extend(Violation("template", f"{where}: {p}") for p in check_template(source, config.max_template_bytes))
    return out
