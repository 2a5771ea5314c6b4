"""The `harness` command line: global options here, each command group in `harness/commands/`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from harness.config import OverrideError, Settings, load_settings
from harness.errors import HarnessError
from harness.logging import configure_logging

app = typer.Typer(
    name="harness",
    help=(
        "Evaluate untrusted models for Bittensor subnets, safely.\n\n"
        "Start with `harness check MODEL` (policy audit), `harness selftest MODEL` (what validators run), "
        "or `harness run` (the validator service). Settings come from HARNESS_* variables, a .env file, "
        "or `--set section.key=value`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class State:
    """Per-invocation state shared with subcommands through typer's context."""

    def __init__(self, overrides: list[str]) -> None:
        self.overrides = overrides
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.overrides)
            except (OverrideError, ValueError) as exc:
                raise HarnessError(f"invalid settings: {exc}") from None
        return self._settings


@app.callback()
def _global_options(
    ctx: typer.Context,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting, e.g. --set policy.max_parameters=8e9 (repeatable)."),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    overrides = list(set_ or [])
    if log_level:
        overrides.append(f"log_level={log_level}")
    state = State(overrides)
    ctx.obj = state
    try:
        settings = state.settings
        configure_logging(settings.log_level, settings.log_json)
    except HarnessError:
        configure_logging("info")


def state_of(ctx: typer.Context) -> State:
    return ctx.find_object(State) or State([])


def _register_commands() -> None:
    """Import each command module; a module adds its commands to `app`."""
    from harness.commands import (
        chain_cmd,
        check_cmd,
        commitment_cmd,
        config_cmd,
        demo_cmd,
        doctor_cmd,
        hub_cmd,
        run_cmd,
        sandbox_cmd,
        selftest_cmd,
        status_cmd,
        tasks_cmd,
    )

    for module in (
        config_cmd,
        check_cmd,
        run_cmd,
        status_cmd,
        chain_cmd,
        hub_cmd,
        demo_cmd,
        tasks_cmd,
        sandbox_cmd,
        doctor_cmd,
        selftest_cmd,
        commitment_cmd,
    ):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: expected failures print one line on stderr and exit with their code."""
    try:
        # With standalone_mode=False click returns a command's `typer.Exit(code)` instead of raising it.
        result = app(args=argv, standalone_mode=False)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
