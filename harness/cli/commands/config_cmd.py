"""`harness config`: show effective settings, or the settings reference as Markdown for the README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from harness.cli.context import state_of
from harness.settings.root import Settings


def _plain(value: Any) -> Any:
    """json.dumps fallback: nested settings models (e.g. inside `competitions`) print as their fields; paths
    under the home folder print as `~/...` so the reference reads the same for every user."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path) and value.is_relative_to(Path.home()):
        return "~/" + str(value.relative_to(Path.home()))
    return str(value)


def settings_reference(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Rows of (dotted key, environment variable, default, description), nested sections flattened."""
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(settings_reference(annotation, f"{key}."))
            continue
        default: Any = field.get_default(call_default_factory=True)
        env = "HARNESS_" + key.replace(".", "__").upper()
        rows.append((key, env, json.dumps(default, default=_plain), field.description or ""))
    return rows


REFERENCE_HEADER = """# Configuration reference

Generated from the settings model by `make docs` (`harness config --reference`); a test fails when it is stale.
Set a value with `--set KEY=VALUE` on any command, the environment variable, or a `.env` file (highest first).
Values are JSON where they parse as JSON (lists, objects, numbers, booleans), plain text otherwise.

"""


def reference_markdown() -> str:
    lines = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for key, env, default, description in settings_reference():
        lines.append(f"| `{key}` | `{env}` | `{default}` | {description} |")
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print effective settings as JSON.")] = False,
        reference: Annotated[bool, typer.Option(help="Print every setting as a Markdown table.")] = False,
    ) -> None:
        """Show the effective settings (after environment, .env and --set)."""

        if reference:
            typer.echo(REFERENCE_HEADER + reference_markdown(), nl=False)
            return
        settings = state_of(ctx).settings
        if as_json:
            typer.echo(settings.model_dump_json(indent=2))
            return
        for key, _env, _default, _description in settings_reference():
            value: Any = settings
            for part in key.split("."):
                value = getattr(value, part)
            typer.echo(f"{key} = {json.dumps(value, default=_plain)}")
