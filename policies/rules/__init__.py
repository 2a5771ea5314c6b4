"""One module per rule id; each exposes `check(manifest, config) -> list[Violation]` and reads only metadata."""

from __future__ import annotations

from collections.abc import Callable

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.report import Violation
from policies.rules import (
    config_rule,
    corrupt,
    format_rule,
    kinds_rule,
    license_rule,
    names_rule,
    pickle_rule,
    remote_code,
    size,
    symlink,
    template_rule,
)

Rule = Callable[[Manifest, PolicyConfig], list[Violation]]

# Order of the report: what stops a model first (filesystem tricks, code) before quality concerns.
RULES: tuple[Rule, ...] = (
    symlink.check,
    names_rule.check,
    pickle_rule.check,
    remote_code.check,
    format_rule.check,
    kinds_rule.check,
    corrupt.check,
    size.check,
    config_rule.check,
    template_rule.check,
    license_rule.check,
)
