"""`harness check REF`: audit one model against the policies, from metadata alone.

Exit codes: 0 allowed, 1 rejected by policy, 2 could not check (bad reference, I/O, Hub unreachable).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

import policies
from harness.cli.context import state_of
from harness.errors import HarnessError
from harness.models.prepare import worker_limits
from harness.models.ref import parse_model_ref
from harness.settings.root import load_settings
from policies.printable import printable


def run_check(ref_text: str, settings):  # type: ignore[no-untyped-def]
    """The report for a reference; policy errors that prevent a verdict become `HarnessError` (exit 2)."""
    ref = parse_model_ref(ref_text)
    if ref.is_hub:
        target = {"repo_id": ref.repo_id, "revision": ref.revision}
    else:  # a local folder is judged in full, tokenizer files included: it is what selftest would mount
        target = {"local": str(ref.path), "deep": True, "model": str(ref.path)}
    try:
        return policies.check_in_worker(target, settings.policy, settings.hub, worker_limits(settings)).report
    except policies.CheckError as exc:
        raise HarnessError(printable(" ".join(str(exc).split()))) from None  # one line, whatever the cause said


def sglang_verdict(ref_text: str, overrides: list[str]):  # type: ignore[no-untyped-def]
    """The report under sglang's rules, for a model the CPU engine's rules allowed: a miner testing on CPU learns
    before committing that GPU validators (sglang: stricter vision adaptors) would refuse it."""
    return run_check(ref_text, load_settings([*overrides, "sandbox.engine=sglang"]))


def engine_lines(engine: str, sglang_report) -> list[str]:  # type: ignore[no-untyped-def]
    if sglang_report is None:
        return [f"engine rules: {engine}"]
    if sglang_report.allowed:
        return [f"engine rules: {engine} (sglang, the validators' GPU engine, would allow it too)"]
    reasons = "; ".join(printable(v.message) for v in sglang_report.violations)
    return [f"engine rules: {engine}; sglang, the validators' GPU engine, would REFUSE it: {reasons}"]


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        ctx: typer.Context,
        model: Annotated[
            str, typer.Argument(help="hf://ORG/NAME@REVISION (revision optional: main) or a local model folder.")
        ],
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    ) -> None:
        """Audit a model against the policies (license, size, remote code, pickles, format, symlinks,
        corrupt weights, config, chat template) without loading or running anything from it.

        Exit 0 allowed, 1 rejected, 2 could not check.
        """

        state = state_of(ctx)
        engine = state.settings.sandbox.engine
        report = run_check(model, state.settings)
        sglang_report = sglang_verdict(model, state.overrides) if engine != "sglang" and report.allowed else None
        if as_json:
            payload = report.to_dict()
            payload["engine"] = engine
            if sglang_report is not None:
                payload["sglang"] = {
                    "allowed": sglang_report.allowed,
                    "violations": [v.to_dict() for v in sglang_report.violations],
                }
            typer.echo(json.dumps(payload, indent=2))
        else:
            typer.echo(report.to_text())
            for line in engine_lines(engine, sglang_report):
                typer.echo(line)
        if not report.allowed:
            raise typer.Exit(1)
