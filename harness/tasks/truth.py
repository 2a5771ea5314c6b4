"""Concrete calls from a BFCL ground truth: what a model that gets everything right answers.

Used to check that a task's own answer key passes its checker (an entry whose key fails is not a fair task)
and, in tests, as the oracle strategy.
"""

from __future__ import annotations

from typing import Any


def _concrete(alternatives: list, pick: int) -> tuple[bool, Any]:
    """A concrete value from a list of alternatives; (False, None) means leave the parameter out."""
    real = [a for a in alternatives if a != ""]
    if not real:
        return False, None
    if pick < 0 and "" in alternatives:
        return False, None
    return True, _materialise(real[pick % len(real)], pick)


def _materialise(value: Any, pick: int) -> Any:
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        out = {}
        for key, alts in value.items():
            keep, concrete = _concrete(alts, pick)
            if keep:
                out[key] = concrete
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_materialise(v, pick) for v in value]
    return value


def calls_from_truth(truth: list[dict], pick: int) -> list[dict]:
    """Concrete calls from a ground truth; `pick` chooses among alternatives, -1 leaves optional ones out."""
    calls = []
    for entry in truth:
        ((name, params),) = entry.items()
        args = {}
        for param, alts in params.items():
            keep, value = _concrete(alts, pick)
            if keep:
                args[param] = value
        calls.append({name: args})
    return calls
