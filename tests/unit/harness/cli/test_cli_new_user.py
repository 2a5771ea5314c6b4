"""The CLI and settings tried as a new user would: typos, missing arguments, bad values, unwritable output.

Every mistake ends as one readable message with exit 2 (never a traceback, never exit 1, which means
"rejected"), and a misspelled setting is refused instead of silently leaving the default in place.
"""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.errors import HarnessError
from harness.settings.root import OverrideError, load_settings
from harness.views.output_files import ensure_writable_dir, write_texts_atomically
from tests.support.model_factory import write_tiny_model


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["check"], "Missing argument"),
        (["check", "--bogus", "x"], "No such option: --bogus"),
        (["no-such-command"], "No such command"),
        (["--set"], "requires an argument"),
        (["selftest", "x", "--n", "0"], "Invalid value"),
    ],
)
def test_usage_errors_exit_2_with_typers_message(argv: list[str], needle: str, capsys) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert needle in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_misspelled_nested_env_setting_is_refused_not_ignored(tmp_path: Path, monkeypatch, capsys) -> None:
    """The attack on main: HARNESS_POLICY__MAX_PARAMETER=1000 left the 10e9 cap in place and check said allowed."""
    model = write_tiny_model(tmp_path / "m")
    monkeypatch.setenv("HARNESS_POLICY__MAX_PARAMETER", "1000")
    assert main(["check", str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "HARNESS_POLICY__MAX_PARAMETER" in err[0] and "did you mean HARNESS_POLICY__MAX_PARAMETERS" in err[0]
    monkeypatch.delenv("HARNESS_POLICY__MAX_PARAMETER")
    monkeypatch.setenv("HARNESS_POLICY__MAX_PARAMETERS", "100")
    assert main(["check", str(model)]) == 1  # the correct spelling takes effect


def test_misspelled_override_names_the_closest_key() -> None:
    with pytest.raises(OverrideError, match=r"did you mean sandbox\.cpu_image"):
        load_settings(["sandbox.cpu_imag=x"])
    with pytest.raises(OverrideError, match=r"did you mean policy\.max_parameters"):
        load_settings(['policy={"max_parameter": 5}'])
    with pytest.raises(OverrideError, match="has no sub-settings"):
        load_settings(["policy.max_parameters.x=5"])


def test_misspelled_key_in_dotenv_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HARNESS_HUB__TIMEOUT=3\n")
    with pytest.raises(OverrideError, match=r"HARNESS_HUB__TIMEOUT_S\? \(\.env\)"):
        load_settings()


def test_flat_variables_of_other_tools_pass_but_near_misses_do_not(monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_DATA", "/somewhere")  # compose's own variable, not a setting
    load_settings()
    monkeypatch.setenv("HARNESS_CACHEDIR", "/x")
    with pytest.raises(OverrideError, match="HARNESS_CACHE_DIR"):
        load_settings()


def test_free_form_maps_accept_new_keys_but_check_below_them() -> None:
    settings = load_settings(['competitions.mine={"families": {"toolcall": 1.0}}'])
    assert "mine" in settings.competitions
    with pytest.raises(OverrideError, match="did you mean"):
        load_settings(['competitions.mine={"familes": {"toolcall": 1.0}}'])


def test_bad_value_is_one_line_naming_the_key(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HARNESS_POLICY__MAX_PARAMETERS", "lots")
    assert main(["config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid settings: policy.max_parameters:") and "'lots'" in err[0]


def test_selftest_out_that_cannot_be_written_fails_before_the_run(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    model = write_tiny_model(tmp_path / "m")
    # The model is valid and no Docker is needed to get here: the error must come before any policy or sandbox.
    assert main(["selftest", str(model), "--out", str(blocker / "reports")]) == 2
    err = capsys.readouterr().err
    assert "cannot write into" in err and "Traceback" not in err
    with pytest.raises(HarnessError):
        ensure_writable_dir(blocker / "reports")


def test_disk_full_while_writing_reports_leaves_no_partial_files(tmp_path: Path) -> None:
    """A real write failure (RLIMIT_FSIZE makes the kernel refuse the write, as a full disk would)."""
    out = tmp_path / "out"
    files = {out / "report.json": "{}\n", out / "report.md": "x" * 200_000}
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, old_limit[1]))
    try:
        with pytest.raises(HarnessError, match=r"cannot write .*report\.md"):
            write_texts_atomically(files)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert sorted(p.name for p in out.iterdir()) == []  # neither the first file nor a temporary one remains
