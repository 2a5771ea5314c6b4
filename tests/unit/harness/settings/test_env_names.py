"""`HARNESS_*` variables that set nothing: one underscore where two were meant, near misses, other tools' own."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.app import main
from harness.settings.env_names import OTHER_VARIABLES, setting_env_names, unknown_env_warnings
from harness.settings.root import Settings, load_settings


def test_one_underscore_names_the_nested_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_CHAIN_BACKEND", "bittensor")
    settings = load_settings()
    assert settings.chain.backend == "local"  # pydantic-settings ignores it: hence the warning
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "warning: HARNESS_CHAIN_BACKEND (environment) sets nothing: nested settings take a double underscore, "
        "did you mean HARNESS_CHAIN__BACKEND?"
    ]


def test_every_nested_setting_is_recognised_with_one_underscore() -> None:
    nested = [name for name in setting_env_names(Settings) if "__" in name]
    assert "HARNESS_SANDBOX__MEMORY_LIMIT" in nested and "HARNESS_SANDBOX__SGLANG__MEM_FRACTION_STATIC" in nested
    # the compose file's HARNESS_SUPERVISOR_IMAGE is its own variable (it sets the service's image tag)
    single = [name.replace("__", "_") for name in nested if name.replace("__", "_") not in OTHER_VARIABLES]
    warnings = unknown_env_warnings(Settings, single, "environment")
    assert len(warnings) == len(single)
    for name, line in zip(sorted(single), warnings, strict=True):
        assert line.startswith(f"{name} (environment) sets nothing") and "did you mean HARNESS_" in line


def test_near_miss_gets_a_suggestion_and_unknown_ones_a_plain_warning() -> None:
    lines = unknown_env_warnings(Settings, ["HARNESS_POLICY_MAX_PARAMETRS", "HARNESS_WIDGETS"], ".env")
    assert lines == [
        "HARNESS_POLICY_MAX_PARAMETRS (.env) is not a setting and is ignored; did you mean "
        "HARNESS_POLICY__MAX_PARAMETERS?",
        "HARNESS_WIDGETS (.env) is not a setting and is ignored",
    ]


def test_settings_and_the_stacks_own_variables_stay_quiet() -> None:
    names = [*OTHER_VARIABLES, "HARNESS_BENCH_TASKS", "HARNESS_CACHE_DIR", "HARNESS_LOG_LEVEL", "HARNESS_CHAIN", "PATH"]
    assert unknown_env_warnings(Settings, names, "environment") == []


def test_compose_variables_are_listed_as_the_stacks_own() -> None:
    """The compose file documents its variables in its header; each must be known here, or `make harness-up`
    would warn about its own variables."""
    compose = (Path(__file__).parents[4] / "compose" / "docker-compose.yml").read_text()
    documented = {line.split()[1] for line in compose.splitlines() if line.startswith("#   HARNESS_")}
    assert documented
    assert unknown_env_warnings(Settings, documented, "environment") == []


def test_dotenv_variable_warns_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HARNESS_SUPERVISOR_EXECUTOR=ray\n")
    assert main(["config"]) == 0
    err = capsys.readouterr().err
    assert "HARNESS_SUPERVISOR_EXECUTOR (.env) sets nothing" in err and "HARNESS_SUPERVISOR__EXECUTOR" in err
