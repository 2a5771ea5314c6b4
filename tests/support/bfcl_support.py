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
from harness.tasks.truth import calls_from_truth

__all__ = ["PYTHON_CATEGORIES", "bfcl_data_dir", "calls_from_truth", "load_category", "real_ast_checker"]

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
