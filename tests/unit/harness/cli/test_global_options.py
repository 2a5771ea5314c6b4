"""Global options anywhere on the line (`--set` after the subcommand, as the README promises) and a log level the
logger knows, or one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.cli.context import hoist_global_options


def test_set_after_the_subcommand_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["status", "--set", f"cache_dir={tmp_path}"],
        ["status", f"--set=cache_dir={tmp_path}"],
        ["--set", "cache_dir=/nonexistent", "status", "--set", f"cache_dir={tmp_path}"],  # the later one wins
    ):
        assert main(argv) == 0
        assert f"no state database at {tmp_path / 'state.sqlite'}" in capsys.readouterr().err


def test_hoisting_leaves_everything_else_in_place() -> None:
    argv = ["report", "last", "--set", "a.b=1", "--json", "--log-level", "debug", "--", "--set", "x"]
    assert hoist_global_options(argv) == ["--set", "a.b=1", "--log-level", "debug", "report", "last", "--json", "--",
                                          "--set", "x"]  # fmt: skip
    assert hoist_global_options(["status", "--set"]) == ["status", "--set"]  # no value: click names the error


@pytest.mark.parametrize("argv", [["--log-level", "verbose", "status"], ["status", "--log-level", "verbose"]])
def test_unknown_log_level_is_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --log-level: unknown log level 'verbose': one of debug, info, warning, error"


def test_unknown_log_level_from_the_environment_is_refused(tmp_path: Path) -> None:
    """The installed console script, as an operator runs it: one line, exit 2, well within 10 s."""
    script = Path(sys.executable).parent / "harness"
    started = time.monotonic()
    done = subprocess.run(
        [str(script), "status"],
        env={"HARNESS_LOG_LEVEL": "verbose", "HARNESS_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: log_level: unknown log level 'verbose': one of debug, info, warning, error"
    ]
