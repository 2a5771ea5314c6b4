"""`harness doctor`: is this host ready to run untrusted models, and is the sandbox really isolated?"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from harness.cli.context import state_of
from harness.errors import HarnessError
from harness.sandbox.doctor import run_checks


class DoctorFailed(HarnessError):
    """Some check failed: exit 1 (2 stays "could not run")."""

    exit_code = 1


class NoDockerEngine(HarnessError):
    """No Docker engine answered, so no check could run: exit 2, like any "could not check"."""


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        probes: Annotated[bool, typer.Option(help="Run the isolation probes (two short containers).")] = True,
    ) -> None:
        """Docker engine, images, GPUs, free disk, and isolation probes (each shown non-vacuous by a control)."""

        settings = state_of(ctx).settings
        checks = run_checks(settings.sandbox, settings.cache_dir, probes=probes)
        ok = all(c.ok for c in checks)
        unreachable = any(c.data.get("unreachable") for c in checks)
        if unreachable and not as_json:
            raise NoDockerEngine(f"doctor: no Docker engine answered: {checks[0].detail.splitlines()[0]}")
        if as_json:
            print(json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks]}))
        else:
            for check in checks:
                print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<32} {check.detail}")
            print("all checks passed" if ok else "some checks FAILED")
        if unreachable:
            raise NoDockerEngine(f"doctor: no Docker engine answered: {checks[0].detail.splitlines()[0]}")
        if not ok:
            failed = ", ".join(c.name for c in checks if not c.ok)
            raise DoctorFailed(f"doctor: failed checks: {failed}")
