"""The Jinja2 environment of the results page: templates shipped as package data, autoescaped, every value shown
passed through `harness.web.text.visible` first (so no template can forget it)."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.web.text import visible


def _finalize(value: Any) -> Any:
    """Applied to every `{{ }}` before escaping: untrusted strings lose their hidden characters, None shows empty."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def number(value: Any, digits: int = 3) -> str:
    """A score or weight as the page shows it; a missing or non-finite one as a dash."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
