"""Warnings for `HARNESS_*` variables that set nothing: the likely setting named, the variable left as it is.

Why: pydantic-settings ignores a variable that names no setting, so `HARNESS_CHAIN_BACKEND=bittensor` (one
underscore where the key is `HARNESS_CHAIN__BACKEND`) used to leave the local chain in place without a word.
A flat variable is only warned about, not refused (nested `HARNESS_A__B` typos are refused by
`harness.settings.keys`): the prefix is shared with the compose file's and the Makefile's own variables, which
are listed here so that they stay quiet, and with whatever tools an operator adds.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from harness.settings.keys import ENV_PREFIX, NESTED, _is_model, _unwrap

# Variables of the compose file, the Makefile, image builds, CI and the benchmarks: not settings, not typos.
OTHER_VARIABLES = frozenset(
    {
        "HARNESS_BLOCK_PERIOD",
        "HARNESS_BUILD_CA_BUNDLE",
        "HARNESS_CAPTION_N",
        "HARNESS_DATA",
        "HARNESS_EVAL_CONCURRENCY",
        "HARNESS_GRAFANA_IMAGE",
        "HARNESS_GRAFANA_PASSWORD",
        "HARNESS_GRAFANA_PORT",
        "HARNESS_HOSTNAME",
        "HARNESS_LIVE",
        "HARNESS_LOCAL_TEMPO",
        "HARNESS_MAX_TOKENS",
        "HARNESS_MODEL_TIME_BUDGET",
        "HARNESS_PROMETHEUS_IMAGE",
        "HARNESS_PROMETHEUS_PORT",
        "HARNESS_REQUEST_TIMEOUT",
        "HARNESS_REQUIRE_DOCKER",
        "HARNESS_ROUND_INTERVAL",
        "HARNESS_SANDBOX_MEMORY",
        "HARNESS_STATUS_PORT",
        "HARNESS_SUPERVISOR_IMAGE",
        "HARNESS_TOOLCALL_N",
        "HARNESS_TORCH_WHEEL",
        "HARNESS_UPDATE_SCREENSHOT",
    }
)
OTHER_PREFIXES = ("HARNESS_BENCH_", "HARNESS_GRAFANA_", "HARNESS_PROMETHEUS_")
_warned: set[str] = set()


def setting_env_names(model: type[BaseModel]) -> list[str]:
    """Every variable that sets a leaf setting (`HARNESS_CHAIN__BACKEND`, ...), sorted."""
    out: list[str] = []

    def walk(annotation: Any, prefix: str) -> None:
        for name, field in annotation.model_fields.items():
            below = _unwrap(field.annotation)
            env = f"{prefix}{NESTED if prefix != ENV_PREFIX else ''}{name.upper()}"
            if _is_model(below):
                walk(below, env)
            else:
                out.append(env)

    walk(model, ENV_PREFIX)
    return sorted(out)


def unknown_env_warnings(model: type[BaseModel], names: Iterable[str], origin: str) -> list[str]:
    """One line per flat `HARNESS_X` variable in `names` that sets no setting, naming the likely key."""
    settable = setting_env_names(model)
    one_underscore = {}
    for env in settable:
        one_underscore.setdefault(env.replace(NESTED, "_"), env)
    sections = {f"{ENV_PREFIX}{name.upper()}" for name in model.model_fields}
    lines = []
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or NESTED in upper[len(ENV_PREFIX) :]:
            continue  # not ours, or nested: `harness.settings.keys.check_env` refuses the unknown ones
        if upper in sections or upper in OTHER_VARIABLES or upper.startswith(OTHER_PREFIXES):
            continue
        if upper in one_underscore:
            lines.append(
                f"{name} ({origin}) sets nothing: nested settings take a double underscore, "
                f"did you mean {one_underscore[upper]}?"
            )
            continue
        close = difflib.get_close_matches(upper, [*settable, *one_underscore], n=1, cutoff=0.8)
        hint = f"; did you mean {one_underscore.get(close[0], close[0])}?" if close else ""
        lines.append(f"{name} ({origin}) is not a setting and is ignored{hint}")
    return lines


def warn_unknown_env(model: type[BaseModel], names: Iterable[str], origin: str) -> None:
    """Print each warning once per process on stderr (logging is configured from these very settings)."""
    for line in unknown_env_warnings(model, names, origin):
        if line not in _warned:
            _warned.add(line)
            print(f"warning: {line}", file=sys.stderr)


__all__ = ["OTHER_VARIABLES", "setting_env_names", "unknown_env_warnings", "warn_unknown_env"]
