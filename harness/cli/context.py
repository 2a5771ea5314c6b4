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


def state_of(ctx: typer.Context) -> State:
    return ctx.find_object(State) or State([])
