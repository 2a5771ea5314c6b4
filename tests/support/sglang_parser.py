"""sglang's own argument parser, run on this machine without a GPU: the proof that our launch line parses.

A test tool (tests/unit/harness/sandbox/test_sglang_parser.py), not part of the harness.

The GPU image cannot run here, but the pinned sglang's `prepare_server_args` (the function its launcher calls
on `sys.argv`) runs on CPU: it needs sglang itself (`--no-deps`), CPU torch, and the modules its import chain
touches. They go into a venv built once per machine under the harness cache (a file lock shares one build
between test workers). Two import-only parts have no CPU build on the package index: `triton` is installed as
is (it imports without a GPU), and `torchvision`, whose index wheels need CUDA torch, is replaced by a module
that provides the one name sglang imports at start-up (`torchvision.io.decode_jpeg`) and refuses to run.
The parser never decodes an image, so the stand-in cannot change what it answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.errors import HarnessError
from harness.sandbox.sglang_facts import SGLANG_VERSION

# What `prepare_server_args`' imports need, pinned where sglang pins them. CPU torch comes from the machine's
# local wheel (`+cpu`): nothing here may pull the CUDA build.
TORCH_REQUIREMENT = "torch==2.13.0+cpu"
NO_DEPS_REQUIREMENTS = (f"sglang=={SGLANG_VERSION}", "triton==3.7.1")
IMPORT_REQUIREMENTS = (
    "transformers==5.12.1",
    "openai==2.6.1",
    "xgrammar==0.2.1",
    "apache-tvm-ffi==0.1.11",
    "aiohttp",
    "pydantic",
    "orjson",
    "psutil",
    "pybase64",
    "requests",
    "numpy",
    "pillow",
    "fastapi",
    "IPython",
    "msgspec",
    "partial_json_parser",
    "packaging",
    "pyzmq",
)
TORCHVISION_STAND_IN = '''"""Import-only stand-in (index wheels need CUDA torch); the argument parser never uses it."""
'''
TORCHVISION_IO_STAND_IN = """def decode_jpeg(*args, **kwargs):
    raise RuntimeError("torchvision stand-in: only sglang's argument parser runs in this venv")
"""

# Run inside the venv: parse argv as `python -m sglang.launch_server` would, print the fields we set.
PARSE_SCRIPT = r"""
import contextlib, io, json, sys
from sglang.srt.server_args import prepare_server_args
from sglang.srt.function_call.function_call_parser import FunctionCallParser
import sglang
request = json.loads(sys.stdin.read())
verdicts = []
for argv in request["argvs"]:
    verdict = {"version": sglang.__version__, "tool_call_parsers": sorted(FunctionCallParser.ToolCallParserEnum)}
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = prepare_server_args(argv)
        verdict["args"] = {name: getattr(args, name) for name in request["fields"]}
    except SystemExit as exc:
        verdict["error"] = err.getvalue().strip().splitlines()[-1:] or [f"exit {exc.code}"]
    verdicts.append(verdict)
print(json.dumps(verdicts))
"""


class SglangVenvError(HarnessError):
    """The parser venv could not be built (no package index, disk full); the message has pip's last words."""


def parser_venv_dir(cache_dir: Path) -> Path:
    return cache_dir / "sglang-parser" / SGLANG_VERSION


def _pip(python: Path, *args: str) -> None:
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SglangVenvError(f"{' '.join(cmd[3:])} failed: {done.stderr.strip()[-2000:]}")


def site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def parser_venv(cache_dir: Path) -> Path:
    """The venv's python, built on first use (several minutes, about 2 GB) and reused afterwards."""
    root = parser_venv_dir(cache_dir)
    python = root / "bin" / "python"
    done_marker = root / ".complete"
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if done_marker.is_file():
            return python
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        _pip(python, "--no-deps", TORCH_REQUIREMENT, *NO_DEPS_REQUIREMENTS)
        constraints = root / "constraints.txt"
        constraints.write_text(TORCH_REQUIREMENT + "\n")
        _pip(python, "-c", str(constraints), *IMPORT_REQUIREMENTS)
        stand_in = site_packages(python) / "torchvision"
        stand_in.mkdir(exist_ok=True)
        (stand_in / "__init__.py").write_text(TORCHVISION_STAND_IN)
        (stand_in / "io.py").write_text(TORCHVISION_IO_STAND_IN)
        done_marker.write_text(SGLANG_VERSION + "\n")
    return python


def parse_launches(python: Path, argvs: list[list[str]], fields: list[str]) -> list[dict[str, Any]]:
    """sglang's verdict on each argv (the arguments after `-m sglang.launch_server`), in one process (importing
    sglang takes most of the time): `args` holds the requested fields of the parsed ServerArgs, or `error` holds
    the parser's complaint; each verdict also names the version and its tool-call parsers."""
    done = subprocess.run(
        [str(python), "-c", PARSE_SCRIPT],
        input=json.dumps({"argvs": argvs, "fields": fields}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SglangVenvError(f"sglang's parser did not run: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
