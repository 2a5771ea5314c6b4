"""The `harness` command line: global options here, each command group in `harness/cli/commands/`."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from harness.cli.commands import (
    chain_cmd,
    check_cmd,
    commitment_cmd,
    config_cmd,
    demo_cmd,
    doctor_cmd,
    feed_cmd,
    hub_cmd,
    run_cmd,
    sandbox_cmd,
    selftest_cmd,
    status_cmd,
    tasks_cmd,
    verify_cmd,
)
from harness.cli.context import LOG_LEVELS, State, check_log_level, hoist_global_options
from harness.errors import HarnessError
from harness.logging import configure_logging
from policies.printable import printable

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


@app.callback()
def _global_options(
    ctx: typer.Context,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting, e.g. --set policy.max_parameters=8e9 (repeatable)."),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help=f"{', '.join(LOG_LEVELS)}.")] = None,
) -> None:
    overrides = list(set_ or [])
    if log_level:
        check_log_level(log_level, "--log-level")
        overrides.append(f"log_level={log_level}")
    state = State(overrides)
    ctx.obj = state
    try:
        settings = state.settings
    except HarnessError:
        configure_logging("info")
        return
    check_log_level(settings.log_level, "log_level")  # from HARNESS_LOG_LEVEL, .env or --set
    configure_logging(settings.log_level, settings.log_json)


def _register_commands() -> None:
    """Each command module adds its commands to `app`, in the order `harness --help` lists them."""
    for module in (
        config_cmd,
        check_cmd,
        run_cmd,
        status_cmd,
        chain_cmd,
        hub_cmd,
        demo_cmd,
        tasks_cmd,
        feed_cmd,
        sandbox_cmd,
        doctor_cmd,
        selftest_cmd,
        commitment_cmd,
        verify_cmd,
    ):
        module.register(app)


_register_commands()


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd, `docker stop`, `timeout`, a CI runner) seen as an interrupt: it unwinds like Ctrl-C, so
    every `with` on the way out runs and a selftest's or check's sandbox container and temporary files are removed.
    Python's default for SIGTERM is to die on the spot, leaving a sandbox running with its cores and memory."""


_terminated = threading.Event()  # set by the handler: click and typer turn the interrupt into Abort or Exit(130)


def _raise_terminated(signum: int, frame: object) -> None:
    if _terminated.is_set():
        return  # already unwinding: a second SIGTERM must not cut short the cleanup the first one started
    _terminated.set()
    raise Terminated


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While inside, the first SIGTERM raises `Terminated` and later ones are ignored while it unwinds (main thread
    only: Python delivers signals there). Commands with their own shutdown (the validator service checkpoints)
    install their own handler inside this one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _terminated.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


def main(argv: list[str] | None = None) -> int:
    """Entry point: expected failures print one line on stderr and exit with their code."""
    with sigterm_unwinds():
        code = _dispatch(argv)
    if _terminated.is_set():
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    return code


def _dispatch(argv: list[str] | None) -> int:
    try:
        # With standalone_mode=False click returns a command's `typer.Exit(code)` instead of raising it.
        args = hoist_global_options(sys.argv[1:] if argv is None else argv)
        result = app(args=args, standalone_mode=False)
    except HarnessError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # click usage errors and the like
        if isinstance(exc, _click_exception_types()):
            exc.show()  # typer's own message: "Usage: ... Error: Missing argument 'MODEL'."
            return 2 if getattr(exc, "exit_code", 1) in (1, 2) else exc.exit_code
        raise
    return result if isinstance(result, int) else 0


def _click_exception_types() -> tuple[type[BaseException], ...]:
    """Usage-error classes: typer >= 0.16 vendors click as `typer._click`, older ones raise click's own."""
    found: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


if __name__ == "__main__":
    sys.exit(main())
