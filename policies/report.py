"""The verdict of a check: violations (rule id + message) and facts, in the JSON shape of `harness check`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies.printable import printable

RULE_IDS = (
    "license", "size", "remote-code", "pickle", "format", "symlink", "names", "corrupt", "config", "template",
)  # fmt: skip


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __post_init__(self) -> None:
        if self.rule not in RULE_IDS:
            raise ValueError(f"unknown rule id {self.rule!r}")
        # Messages quote file names and values from the repo: never let them drive the reader's terminal.
        object.__setattr__(self, "message", printable(self.message))

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass
class PolicyReport:
    model: str
    violations: list[Violation] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def rules_violated(self) -> set[str]:
        return {v.rule for v in self.violations}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "allowed": self.allowed,
            "violations": [v.to_dict() for v in self.violations],
            "facts": self.facts,
        }

    def to_text(self) -> str:
        """Human form: verdict, violations, key facts."""
        f = self.facts
        lines = [f"{printable(self.model)}: {'ALLOWED' if self.allowed else 'REJECTED'}"]
        for v in self.violations:
            lines.append(f"  [{v.rule}] {v.message}")
        params = f.get("parameters")
        lines += [
            f"  architecture: {f.get('architecture')} (model_type {f.get('model_type')})",
            f"  parameters:   {params:,}" if isinstance(params, int) else "  parameters:   unknown",
            f"  bytes:        {f.get('total_bytes', 0):,} in {len(f.get('files', []))} files",
            f"  dtypes:       {', '.join(f.get('dtypes') or []) or '-'}",
            f"  license:      {f.get('license')}",
            f"  context:      {f.get('context_length')}",
            f"  vision:       {f.get('vision')}   chat template: {f.get('has_chat_template')}",
        ]
        if f.get("revision"):
            lines.append(f"  revision:     {f['revision']}")
        return "\n".join(printable(line) for line in lines)
