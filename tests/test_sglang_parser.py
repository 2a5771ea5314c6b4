"""The sglang launch line, judged by the pinned sglang's own argument parser (`prepare_server_args`).

The GPU engine cannot run on a machine without a GPU, but its argument parser can: every competition's exact
launch command must parse, and parse to what the settings asked for. The parser venv is built once per machine
under the harness cache (several minutes the first time), hence `slow`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings
from harness.sandbox import SandboxSpec, engine_command
from harness.sandbox.sglang_facts import DETERMINISTIC_FLAG, SGLANG_TOOL_CALL_PARSERS, SGLANG_VERSION
from harness.sandbox.sglang_parser import parse_launch, parser_venv

pytestmark = pytest.mark.slow

LAUNCHER = ["python3", "-m", "sglang.launch_server"]
FIELDS = [
    "model_path",
    "host",
    "port",
    "mem_fraction_static",
    "random_seed",
    "dtype",
    "log_level",
    "context_length",
    "tool_call_parser",
    "enable_deterministic_inference",
    "trust_remote_code",
]


@pytest.fixture(scope="module")
def sglang_python(cache_dir: Path) -> Path:
    return parser_venv(cache_dir)


def launch_argv(settings: Settings, competition: str) -> list[str]:
    command = engine_command(SandboxSpec.from_settings(settings.sandbox, engine="sglang", competition=competition))
    assert command[:3] == LAUNCHER
    return command[3:]


@pytest.mark.parametrize("competition", sorted(Settings().competitions))
def test_every_competition_launch_line_parses_as_configured(sglang_python: Path, competition: str) -> None:
    settings = Settings()
    sg = settings.sandbox.sglang
    verdict = parse_launch(sglang_python, launch_argv(settings, competition), FIELDS)
    assert verdict["version"] == SGLANG_VERSION
    assert "error" not in verdict, verdict.get("error")
    args = verdict["args"]
    assert args["model_path"] == "/model"
    assert args["host"] == "127.0.0.1"
    assert args["port"] == settings.sandbox.engine_port
    assert args["mem_fraction_static"] == sg.mem_fraction_static
    assert args["random_seed"] == settings.sandbox.seed
    assert args["context_length"] == sg.context_length
    assert args["tool_call_parser"] == sg.tool_call_parsers[competition]
    assert args["enable_deterministic_inference"] is True
    assert args["trust_remote_code"] is False


def test_settings_variants_parse(sglang_python: Path) -> None:
    """No parser, no context length, deterministic mode off: the optional parts of the line parse too."""
    settings = Settings.model_validate(
        {"sandbox": {"sglang": {"tool_call_parsers": {}, "context_length": None, "deterministic_inference": False}}}
    )
    argv = launch_argv(settings, "toolcall")
    assert DETERMINISTIC_FLAG not in argv
    verdict = parse_launch(sglang_python, argv, FIELDS)
    assert "error" not in verdict, verdict.get("error")
    assert verdict["args"]["tool_call_parser"] is None
    assert verdict["args"]["enable_deterministic_inference"] is False


def test_known_parser_names_are_the_pinned_releases(sglang_python: Path) -> None:
    """Config-time validation uses a copied list; it must be exactly that version's list."""
    verdict = parse_launch(sglang_python, ["--model-path", "/model"], ["tool_call_parser"])
    assert set(verdict["tool_call_parsers"]) == SGLANG_TOOL_CALL_PARSERS


def test_a_typo_parser_is_refused_by_sglang_too(sglang_python: Path) -> None:
    """What the config check prevents: the engine would exit at launch, blamed on the miner."""
    verdict = parse_launch(sglang_python, ["--model-path", "/model", "--tool-call-parser", "llama32"], FIELDS)
    assert "invalid choice: 'llama32'" in verdict["error"][0]
