"""Allowlist of file kinds: files of no recognised kind (`format`), over their kind's cap (`size`), or whose
bytes are not what their name claims (`format`). Pickle and code suffixes are left to their own rules so a
`.bin` is reported once, as `pickle`."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.report import Violation
from policies.rules.pickle_rule import sniff

# Files whose unreadable content another rule already reports under its own id (config, template, license).
REPORTED_ELSEWHERE = frozenset({"config.json", "tokenizer_config.json", "chat_template.json", "README.md"})


def _reported_elsewhere(path: str, manifest: Manifest) -> bool:
    if sniff(manifest.heads.get(path, b"")):
        return True  # a pickle under a text name: `pickle` says so
    if path not in manifest.text_errors:
        return False
    return path in REPORTED_ELSEWHERE or path.endswith((".jinja", ".safetensors.index.json"))


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    own_rules = tuple(s.lower() for s in (*config.pickle_extensions, *config.code_extensions))
    return [
        Violation(rule, message)
        for path, (rule, message) in sorted(manifest.kind_errors.items())
        if not (rule == "format" and (path.lower().endswith(own_rules) or _reported_elsewhere(path, manifest)))
    ]
