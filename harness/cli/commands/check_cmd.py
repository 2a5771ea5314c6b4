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

        report = run_check(model, state_of(ctx).settings)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            typer.echo(report.to_text())
        if not report.allowed:
            raise typer.Exit(1)
