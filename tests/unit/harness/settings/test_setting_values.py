"""Every setting refuses non-finite numbers and malformed sizes, from the environment, `--set` and `.env` alike:
exit 2, one line naming the key, no traceback."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.cli.app import main
from harness.settings.keys import _unwrap
from harness.settings.root import OverrideError, Settings, load_settings
from harness.settings.values import size_bytes


def _float_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of every float setting (optional or not), whichever section defines it."""
    keys = []
    for name, field in model.model_fields.items():
        annotation = _unwrap(field.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _float_keys(annotation, f"{prefix}{name}.")
        elif annotation is float or float in typing.get_args(annotation):
            keys.append(prefix + name)
    return keys


FLOAT_KEYS = _float_keys(Settings)


def test_the_float_walk_finds_the_fields_the_issue_names() -> None:
    assert {"policy.max_parameters", "policy.check_deadline_s", "hub.timeout_s"} <= set(FLOAT_KEYS)
    assert len(FLOAT_KEYS) > 20


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", ["1e400", "-1e400", "NaN"])
def test_every_float_setting_refuses_non_finite_values(key: str, value: str) -> None:
    with pytest.raises(OverrideError) as info:
        load_settings([f"{key}={value}"])
    message = str(info.value)
    assert message.startswith(f"{key}:") and "\n" not in message


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main([*args, "config"])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("HARNESS_POLICY__MAX_PARAMETERS", "1e400", "policy.max_parameters"),
        ("HARNESS_POLICY__CHECK_DEADLINE_S", "inf", "policy.check_deadline_s"),
        ("HARNESS_POLICY__MAX_PARAMETERS", "nan", "policy.max_parameters"),
        ("HARNESS_SANDBOX__MEMORY_LIMIT", "abc", "sandbox.memory_limit"),
        ("HARNESS_SANDBOX__MEMORY_LIMIT", "0", "sandbox.memory_limit"),  # docker reads 0 as "no limit"
        ("HARNESS_SANDBOX__SHM_SIZE", "1.5g", "sandbox.shm_size"),
        ("HARNESS_SANDBOX__TMPFS_SIZE", "1gb", "sandbox.tmpfs_size"),  # a tmpfs mount has no `b` unit
        ("HARNESS_POLICY__MAX_TOTAL_BYTES", "-1", "policy.max_total_bytes"),
        ("HARNESS_POLICY__MAX_TOTAL_BYTES", "1" + "0" * 30, "policy.max_total_bytes"),
        ("HARNESS_TASKS__BFCL_CATEGORIES", '{"simple": 1e999}', "tasks.bfcl_categories.simple"),
    ],
)
def test_bad_value_in_the_environment_exits_2_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, err = _run(capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"error: invalid settings: {key}:"), err


def test_bad_value_from_set_and_from_dotenv_exits_2_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = _run(capsys, "--set", "policy.max_parameters=1e400")
    assert code == 2 and err == ["error: invalid settings: policy.max_parameters: must be a finite number (got inf)"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HARNESS_SANDBOX__MEMORY_LIMIT=abc\n")
    code, err = _run(capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: invalid settings: sandbox.memory_limit: not a size")


@pytest.mark.parametrize("value", ["512m", "8g", "8G", "1073741824", "256k"])
def test_sizes_docker_reads_are_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HARNESS_SANDBOX__MEMORY_LIMIT", value)
    assert load_settings().sandbox.memory_limit == value


def test_zero_switches_off_only_where_documented() -> None:
    assert load_settings(['sandbox.socket_dir_size="0"']).sandbox.socket_dir_size == "0"
    with pytest.raises(OverrideError, match=r"sandbox\.shm_size: must be above zero"):
        load_settings(['sandbox.shm_size="0k"'])


def test_size_bytes_reads_binary_units() -> None:
    assert size_bytes("512m") == 512 * 2**20 and size_bytes("8G") == 8 * 2**30 and size_bytes("100") == 100
    for bad in ("", "m", "-1g", "1e9", "8 g", "8t", "9" * 25):
        with pytest.raises(ValueError, match="not a size"):
            size_bytes(bad)


def test_render_deadline_must_come_before_the_task_deadline() -> None:
    """Otherwise the client gives up first and a spinning template is never counted as `template-timeout`."""
    with pytest.raises(OverrideError) as info:
        load_settings(["sandbox.render_timeout_s=30", "evaluation.request_timeout_s=30"])
    assert str(info.value) == "sandbox.render_timeout_s: must be below evaluation.request_timeout_s (30.0) (got 30.0)"
    assert (
        load_settings(["sandbox.render_timeout_s=29", "evaluation.request_timeout_s=30"]).sandbox.render_timeout_s == 29
    )
