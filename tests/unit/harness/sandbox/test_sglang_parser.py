"""The sglang launch line, judged by the pinned sglang's own argument parser (`prepare_server_args`).

The GPU engine cannot run on a machine without a GPU, but its argument parser can: every competition's exact
launch command must parse, and parse to what the settings asked for. The parser venv is built once per machine
under the harness cache (several minutes the first time), hence `slow`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.sandbox import SandboxSpec, engine_command
from harness.sandbox.sglang_facts import (
    DETERMINISTIC_FLAG,
    SGLANG_TOOL_CALL_PARSERS,
    SGLANG_VERSION,
    SGLANG_VISION_SELECT_STRATEGIES,
    SGLANG_VISION_TOWERS,
)
from harness.settings.root import Settings
from tests.support.sglang_parser import parse_launches, parser_venv, site_packages

pytestmark = pytest.mark.slow

# The wrapper takes its own `--render-timeout-s S` and runs sglang's launcher with the rest, unchanged.
LAUNCHER = ["python3", "/opt/engine/serve_sglang.py", "--render-timeout-s"]
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


def launch_argv(settings: Settings, competition: str) -> list[str]:
    command = engine_command(SandboxSpec.from_settings(settings.sandbox, engine="sglang", competition=competition))
    assert command[:3] == LAUNCHER
    return command[4:]


DEFAULTS = Settings()
COMPETITIONS = sorted(DEFAULTS.competitions)
VARIANT = Settings.model_validate(
    {"sandbox": {"sglang": {"tool_call_parsers": {}, "context_length": None, "deterministic_inference": False}}}
)
TYPO = ["--model-path", "/model", "--tool-call-parser", "llama32"]


@pytest.fixture(scope="module")
def verdicts(cache_dir: Path) -> dict[str, dict]:
    """Every launch line of these tests, judged in one run of sglang's parser (its import is the slow part)."""
    argvs = {c: launch_argv(DEFAULTS, c) for c in COMPETITIONS}
    argvs["variant"] = launch_argv(VARIANT, "toolcall")
    argvs["typo"] = TYPO
    answers = parse_launches(parser_venv(cache_dir), list(argvs.values()), FIELDS)
    return dict(zip(argvs, answers, strict=True))


@pytest.mark.parametrize("competition", COMPETITIONS)
def test_every_competition_launch_line_parses_as_configured(verdicts: dict[str, dict], competition: str) -> None:
    settings = DEFAULTS
    sg = settings.sandbox.sglang
    verdict = verdicts[competition]
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


def test_settings_variants_parse(verdicts: dict[str, dict]) -> None:
    """No parser, no context length, deterministic mode off: the optional parts of the line parse too."""
    assert DETERMINISTIC_FLAG not in launch_argv(VARIANT, "toolcall")
    verdict = verdicts["variant"]
    assert "error" not in verdict, verdict.get("error")
    assert verdict["args"]["tool_call_parser"] is None
    assert verdict["args"]["enable_deterministic_inference"] is False


def test_known_parser_names_are_the_pinned_releases(verdicts: dict[str, dict]) -> None:
    """Config-time validation uses a copied list; it must be exactly that version's list."""
    assert set(verdicts["typo"]["tool_call_parsers"]) == SGLANG_TOOL_CALL_PARSERS


def test_a_typo_parser_is_refused_by_sglang_too(verdicts: dict[str, dict]) -> None:
    """What the config check prevents: the engine would exit at launch, blamed on the miner."""
    assert "invalid choice: 'llama32'" in verdicts["typo"]["error"][0]


def test_vision_adaptor_facts_are_the_pinned_releases(cache_dir: Path) -> None:
    """The policy's sglang tower rule uses copied facts: the towers sglang registers, and the select strategies
    its Llava adaptor loads, read from the pinned release's own model files."""
    models = site_packages(parser_venv(cache_dir)) / "sglang" / "srt" / "models"
    entry = re.compile(r"^EntryClass\s*=\s*(\[[^\]]*\]|\w+)", re.MULTILINE)
    blocks = [block for path in models.glob("*.py") for block in entry.findall(path.read_text())]
    registered = {name for block in blocks for name in re.findall(r"\w+", block)}
    assert "LlavaForConditionalGeneration" in registered
    assert {name for name in registered if name.endswith("VisionModel")} == {"PixtralVisionModel"}
    assert SGLANG_VISION_TOWERS == {"LlavaForConditionalGeneration": ("pixtral",)}  # PixtralVisionConfig's type
    llava = (models / "llava.py").read_text()
    adaptor = llava[llava.index("class LlavaForConditionalGeneration") :]
    load_weights = adaptor[adaptor.index("def load_weights") :].split("\nEntryClass")[0]
    accepted = set(re.findall(r'vision_feature_select_strategy\s*==\s*"(\w+)"', load_weights))
    assert accepted == set(SGLANG_VISION_SELECT_STRATEGIES["LlavaForConditionalGeneration"])
