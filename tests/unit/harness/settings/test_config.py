from __future__ import annotations

import pytest

from harness.cli.app import main
from harness.settings.root import OverrideError, load_settings, overrides_to_dict
from tests.support.paths import REPO_ROOT


def test_cli_override_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_POLICY__MAX_PARAMETERS", "5e9")
    assert load_settings().policy.max_parameters == 5e9
    assert load_settings(["policy.max_parameters=7e9"]).policy.max_parameters == 7e9


def test_nested_override_keeps_sibling_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_POLICY__ALLOWED_LICENSES", '["mit"]')
    settings = load_settings(["policy.max_parameters=1e9"])
    assert settings.policy.allowed_licenses == ["mit"]
    assert settings.policy.max_parameters == 1e9


def test_override_values_parse_as_json_or_string() -> None:
    tree = overrides_to_dict(["a.b=3", 'a.c=["x"]', "d=plain text"])
    assert tree == {"a": {"b": 3, "c": ["x"]}, "d": "plain text"}


@pytest.mark.parametrize("bad", ["no-equals", ".x=1", "a..b=1"])
def test_malformed_override_is_rejected(bad: str) -> None:
    with pytest.raises(OverrideError):
        overrides_to_dict([bad])


def test_unknown_setting_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", "nope=1", "config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: invalid settings: unknown setting 'nope'"]


def test_config_reference_lists_nested_settings_with_env_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--reference"]) == 0
    out = capsys.readouterr().out
    assert "`policy.max_parameters`" in out
    assert "`HARNESS_POLICY__MAX_PARAMETERS`" in out


def test_configuration_reference_document_is_current() -> None:
    """docs/configuration.md is what `make docs` generates; a new or changed setting must be regenerated."""

    from harness.cli.commands.config_cmd import REFERENCE_HEADER, reference_markdown

    committed = (REPO_ROOT / "docs" / "configuration.md").read_text()
    assert committed == REFERENCE_HEADER + reference_markdown(), "run `make docs`"


def test_validators_on_sglang_refuse_vision_towers_it_cannot_load() -> None:
    from harness.settings.root import Settings

    assert Settings().policy.vision_towers == {}  # the CPU engine loads any tower transformers knows
    on_gpu = Settings(sandbox={"engine": "sglang"})
    assert on_gpu.policy.vision_towers == {"LlavaForConditionalGeneration": ["pixtral"]}
    assert on_gpu.policy.vision_select_strategies == {"LlavaForConditionalGeneration": ["patch", "full", "cls_patch"]}
    own = Settings(sandbox={"engine": "sglang"}, policy={"vision_towers": {"LlavaForConditionalGeneration": ["x"]}})
    assert own.policy.vision_towers == {"LlavaForConditionalGeneration": ["x"]}  # an operator's entry wins
