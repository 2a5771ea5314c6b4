"""What every command gets from the command line's global options: the settings, loaded once and on demand.

Kept apart from the typer app so that command modules import it at their top without importing the app that
registers them (the app imports every command module).
"""

from __future__ import annotations

import typer

from harness.errors import HarnessError
from harness.settings.root import OverrideError, Settings, load_settings


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


LOG_LEVELS = ("debug", "info", "warning", "error")
GLOBAL_OPTIONS = ("--set", "--log-level")
"""Options of the `harness` callback; accepted after the subcommand too (`harness status --set k=v`)."""


def check_log_level(level: str, source: str) -> None:
    """Refuse a level the logger does not know (`verbose`) in one line: silently logging at `info` instead would
    hide the very messages the operator asked for."""
    if level.strip().lower() not in LOG_LEVELS:
        raise HarnessError(f"{source}: unknown log level {level!r}: one of {', '.join(LOG_LEVELS)}")


def hoist_global_options(argv: list[str]) -> list[str]:
    """`argv` with every global option (`--set K=V`, `--set=K=V`, `--log-level L`) moved before the subcommand.

    Why: click binds an option to the command it follows, so `harness status --set cache_dir=X` was a usage error
    although the README says every command takes `--set`. Moving them keeps one definition (the callback's) and
    one precedence rule (later `--set` wins, as before). Nothing after a `--` is touched, and an option without a
    value is left where it is for click to report."""
    hoisted: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest += argv[index:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and "=" in arg:
            hoisted.append(arg)
        elif arg in GLOBAL_OPTIONS and index + 1 < len(argv):
            hoisted += [arg, argv[index + 1]]
            index += 1
        else:
            rest.append(arg)
        index += 1
    return hoisted + rest


def state_of(ctx: typer.Context) -> State:
    return ctx.find_object(State) or State([])
