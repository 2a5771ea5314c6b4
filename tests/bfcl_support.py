"""Helpers for tests that use BFCL's own data and checker.

`bfcl_eval`'s checker module imports every model handler through `constants.model_config` (network clients,
audio libraries...). The checker only needs `MODEL_CONFIG_MAPPING[name].underscore_to_dot`, so a stand-in for
that one module lets the real checker function run unchanged.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

from harness.tasks.config import BFCL_PYTHON_CATEGORIES

PYTHON_CATEGORIES = BFCL_PYTHON_CATEGORIES


def bfcl_data_dir() -> Path:
    import bfcl_eval

    return Path(bfcl_eval.__file__).parent / "data"


def real_ast_checker():
    """BFCL's `ast_checker` and its `Language` enum, with the handler registry replaced by a stand-in."""
    name = "bfcl_eval.constants.model_config"
    if name not in sys.modules or not hasattr(sys.modules[name], "_harness_stand_in"):
        stand_in = types.ModuleType(name)

        class _Mapping(dict):
            def __missing__(self, key: str) -> Any:
                return types.SimpleNamespace(underscore_to_dot=False)

        stand_in.MODEL_CONFIG_MAPPING = _Mapping()
        stand_in._harness_stand_in = True
        sys.modules[name] = stand_in
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return ast_checker, Language


def load_category(category: str) -> list[tuple[dict, list]]:
    data = bfcl_data_dir()
    questions = [json.loads(line) for line in (data / f"BFCL_v4_{category}.json").read_text().splitlines() if line]
    answers = {
        e["id"]: e["ground_truth"]
        for e in (
            json.loads(line)
            for line in (data / "possible_answer" / f"BFCL_v4_{category}.json").read_text().splitlines()
            if line
        )
    }
    return [(q, answers[q["id"]]) for q in questions if q["id"] in answers]


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
