"""`harness selftest --like-validator URL|FILE`: run what one validator runs, from the settings it publishes.

A selftest's score is the validator's only when the task counts, token cap, scoring and engine match; those are a
validator's own settings, which a miner cannot see. The status server publishes them as `/settings.json`
(format `harness-settings/1`, docs in the results page's module); this module reads that document (a URL or the
same bytes saved to a file, read with a byte cap and a timeout) and turns every leaf under `settings` into a
`--set` override, so the selftest loads them exactly as the validator's own command line would. The miner's own
`--set` options come after these and win. Nothing else of the document is trusted: unknown keys are skipped and
named, values go through the same settings validation as any `--set`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

FORMAT = "harness-settings/1"
TIMEOUT_S = 15.0
MAP_LEAVES = {"toolcall_categories", "bfcl_categories", "families"}
"""Settings whose value is a map: applied as one JSON value, not key by key (a key the validator dropped must not
survive from the miner's defaults)."""


@dataclass
class Published:
    """What a validator published: the overrides to apply and what the miner should be told."""

    source: str
    overrides: list[str]
    competition: str | None
    unreproducible: list[str] = field(default_factory=list)
    signer: str | None = None
    skipped: list[str] = field(default_factory=list)
    """Setting paths this version of the harness does not know (a newer validator's): left at the miner's own."""


def read_document(source: str) -> dict[str, Any]:
    """The published document from a URL or a file, read as `harness verify-report` reads it; else `HarnessError`."""
    from harness.web.signing import UnreadableDocument
    from harness.web.signing import read_document as read_published

    try:
        doc = read_published(source, TIMEOUT_S)
    except UnreadableDocument as exc:
        raise HarnessError(f"--like-validator: {exc}") from None
    if doc.get("format") != FORMAT:
        raise HarnessError(f"--like-validator: not a {FORMAT} document")
    return doc


def _leaves(prefix: str, value: Any) -> list[tuple[str, Any]]:
    name = prefix.rsplit(".", 1)[-1]
    if isinstance(value, Mapping) and name not in MAP_LEAVES:
        out: list[tuple[str, Any]] = []
        for key in sorted(value):
            out += _leaves(f"{prefix}.{key}", value[key])
        return out
    return [(prefix, value)]


def published_settings(doc: Mapping[str, Any], source: str) -> Published:
    """The document's settings as `--set` overrides (sorted, so two miners apply them in the same order), its
    default competition, and the task sources it uses that a miner cannot reproduce."""
    settings = doc.get("settings")
    if not isinstance(settings, Mapping):
        raise HarnessError("--like-validator: the document has no `settings` object")
    overrides = []
    for section in sorted(settings):
        if isinstance(settings[section], Mapping):
            for path, value in _leaves(str(section), settings[section]):
                overrides.append(f"{path}={json.dumps(value, sort_keys=True)}")
    competitions = doc.get("competitions")
    if isinstance(competitions, Mapping):
        for name in sorted(competitions):
            families = competitions[name].get("families") if isinstance(competitions[name], Mapping) else None
            if isinstance(families, Mapping):
                overrides.append(f"competitions.{name}.families={json.dumps(families, sort_keys=True)}")
    known, skipped = _known(overrides)
    unreproducible = doc.get("unreproducible")
    hidden = sorted(k for k, v in unreproducible.items() if v) if isinstance(unreproducible, Mapping) else []
    competition = doc.get("default_competition")
    return Published(
        source=source,
        overrides=known,
        skipped=skipped,
        competition=competition if isinstance(competition, str) else None,
        unreproducible=hidden,
        signer=doc.get("signer") if isinstance(doc.get("signer"), str) else None,
    )


def _known(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(overrides of settings this harness has, the paths of those it does not)."""
    from harness.settings.keys import UnknownSettingError, check_tree
    from harness.settings.root import Settings, overrides_to_dict

    known, skipped = [], []
    for text in overrides:
        try:
            check_tree(Settings, overrides_to_dict([text]))
        except UnknownSettingError:
            skipped.append(text.split("=", 1)[0])
            continue
        known.append(text)
    return known, skipped


def load(source: str) -> Published:
    return published_settings(read_document(source), source)
