"""All settings of the harness in one pydantic-settings model.

Precedence, highest first: CLI overrides (`--set section.key=value`), environment variables
(`HARNESS_KEY`, nested sections with `__`, e.g. `HARNESS_POLICY__MAX_PARAMETERS=8e9`), a `.env` file, defaults.
Each section is defined by the package that owns it, so `policies/` stays free of `harness` imports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.config import ChainConfig
from harness.sandbox.config import SandboxConfig
from harness.sandbox.sglang_facts import SGLANG_VISION_SELECT_STRATEGIES, SGLANG_VISION_TOWERS
from harness.settings.demo import DemoConfig
from harness.settings.env_names import warn_unknown_env
from harness.settings.evaluation import EvaluationConfig
from harness.settings.fetch import FetchConfig
from harness.settings.keys import UnknownSettingError, check_env, check_tree, dotenv_names
from harness.settings.mirror import MirrorConfig
from harness.settings.paths import Paths
from harness.settings.supervisor import SupervisorConfig
from harness.settings.values import SettingValueError, check_values
from harness.tasks.config import CompetitionConfig, TasksConfig, default_competitions
from policies.config import HubConfig, PolicyConfig
from scoring.config import ScoringConfig


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "harness"


class Settings(BaseSettings):
    """Validator-wide settings; `harness config` prints the effective values."""

    model_config = SettingsConfigDict(
        env_prefix="HARNESS_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    cache_dir: Path = Field(default_factory=default_cache_dir, description="Models, fixtures and images cache.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    log_json: bool | None = Field(default=None, description="JSON logs; unset means JSON when not a TTY.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Model acceptance rules.")
    chain: ChainConfig = Field(default_factory=ChainConfig, description="Chain backend and its limits.")
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig, description="The validator service.")
    state_db: Path | None = Field(
        default=None, description="Validator state database; unset means <cache_dir>/state.sqlite."
    )
    hub: HubConfig = Field(default_factory=HubConfig, description="Hugging Face Hub endpoint, timeout, retries.")
    fetch: FetchConfig = Field(default_factory=FetchConfig, description="Model download cache.")
    mirror: MirrorConfig = Field(default_factory=MirrorConfig, description="Local Hub mirror (`harness hub`).")
    demo: DemoConfig = Field(default_factory=DemoConfig, description="Demo miners (`harness demo seed`).")
    tasks: TasksConfig = Field(default_factory=TasksConfig, description="Task generation.")
    competitions: dict[str, CompetitionConfig] = Field(
        default_factory=default_competitions, description="Competition name -> task family weights, tool-call parser."
    )
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Scoring and weights.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="Evaluation runs.")
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig, description="Hardened engine containers.")

    @property
    def paths(self) -> Paths:
        """Every folder and file under `cache_dir`, as `harness.settings.paths` derives them."""
        return Paths.of(self)

    @model_validator(mode="after")
    def _values_are_sane(self) -> Settings:
        """Finite numbers, sizes Docker reads, no negative durations: one rule for every section's fields."""
        check_values(self)
        return self

    @model_validator(mode="after")
    def _render_deadline_under_task_deadline(self) -> Settings:
        """The engine answers `template-timeout` once a render passes `sandbox.render_timeout_s`; if the client's
        per-task deadline came first, a spinning template would cost each task its whole timeout and never be
        counted, so the evaluation would not end as `evaluate/template-timeout`."""
        render, task = self.sandbox.render_timeout_s, self.evaluation.request_timeout_s
        if render >= task:
            raise SettingValueError(
                "sandbox.render_timeout_s", f"must be below evaluation.request_timeout_s ({task}) (got {render})"
            )
        return self

    @model_validator(mode="after")
    def _sglang_serves_the_vision_towers(self) -> Settings:
        """On sglang, the policy also asks what its vision adaptors can load (an operator's own entry wins)."""
        if self.sandbox.engine == "sglang":
            for arch, towers in SGLANG_VISION_TOWERS.items():
                self.policy.vision_towers.setdefault(arch, list(towers))
            for arch, strategies in SGLANG_VISION_SELECT_STRATEGIES.items():
                self.policy.vision_select_strategies.setdefault(arch, list(strategies))
        return self

    @model_validator(mode="after")
    def _requests_hold_images(self) -> Settings:
        """A caption request carries its image as base64 (4/3 of the bytes) beside the prompt: a cap that cannot
        hold the largest image allowed would fail every such task at run time, for every model alike."""
        needed = image_request_bytes(self.tasks.max_image_bytes)
        if needed > self.sandbox.max_request_bytes:
            raise ValueError(
                f"sandbox.max_request_bytes ({self.sandbox.max_request_bytes}) cannot hold a caption request with an "
                f"image of tasks.max_image_bytes ({self.tasks.max_image_bytes}): it needs {needed}"
            )
        return self


REQUEST_OVERHEAD_BYTES = 64 * 1024  # prompt, tools and JSON framing beside the image


def image_request_bytes(image_bytes: int) -> int:
    return 4 * ((image_bytes + 2) // 3) + REQUEST_OVERHEAD_BYTES


class OverrideError(ValueError):
    """A `--set` override that cannot be applied; the message says which and why."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b=value`; the value is JSON when it parses as JSON, else a plain string."""
    if "=" not in text:
        raise OverrideError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    path = [part.strip() for part in key.strip().split(".")]
    if not all(path):
        raise OverrideError(f"override {text!r} has an empty key")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return path, value


def overrides_to_dict(overrides: list[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for text in overrides:
        path, value = parse_override(text)
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise OverrideError(f"override {text!r} conflicts with an earlier override of {part!r}")
            node = child
        node[path[-1]] = value
    return tree


def load_settings(overrides: list[str] | None = None) -> Settings:
    """Build settings. Unknown keys from `--set`, the environment or `.env` are an error naming the closest
    valid key (a misspelled cap must not silently leave the default in place); a bad value is one line."""
    tree = overrides_to_dict(overrides or [])
    try:
        check_tree(Settings, tree)
        check_env(Settings, os.environ, "environment")
        check_env(Settings, dotenv_names(".env"), ".env")
    except UnknownSettingError as exc:
        raise OverrideError(str(exc)) from None
    warn_unknown_env(Settings, os.environ, "environment")
    warn_unknown_env(Settings, dotenv_names(".env"), ".env")
    try:
        return Settings(**tree)
    except ValidationError as exc:
        raise OverrideError(one_line_validation_error(exc)) from None


def set_by_environment(section: str, fields: Iterable[str]) -> list[str]:
    """Which of `section`'s `fields` this process's environment sets (`HARNESS_<SECTION>__<FIELD>`): a Ray worker
    takes those from its own host and everything else from the head."""
    return [name for name in fields if f"HARNESS_{section.upper()}__{name.upper()}" in os.environ]


def one_line_validation_error(exc: Any) -> str:
    """The first problem of a pydantic ValidationError as `key: message (got VALUE)`, plus a count of others."""
    errors = exc.errors()
    first = errors[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, SettingValueError):  # a rule of harness.settings.values: its message names the key
        return str(cause)
    key = ".".join(str(p) for p in first.get("loc", ())) or "settings"
    got = repr(first.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {first.get('msg', 'invalid')} (got {got}){more}"
