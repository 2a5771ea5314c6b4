"""Static audit of a chat template: parse to an AST with jinja2 and walk it, never render.

The engine renders templates inside the sandbox with a sandboxed Jinja; this check refuses, before any
container starts, templates that reach for what such a sandbox refuses (underscore/dunder attributes,
`mro`, frame/code objects, `str.format` tricks) or that load other templates. A template that passes here
uses plain data access such as `message.content` or `message['role']`.
"""

from __future__ import annotations

import re

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Attribute names a sandboxed Jinja refuses (besides anything starting with "_") or that escape through
# Python internals; `format`/`format_map` are refused as attributes because format strings can walk
# attributes ("{0.__class__}") outside the template's syntax.
UNSAFE_ATTRIBUTES = frozenset(
    {
        "mro", "func_globals", "func_code", "func_closure", "f_globals", "f_locals", "f_builtins", "f_back",
        "f_code", "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next",
        "im_func", "im_self", "im_class", "co_code", "format", "format_map", "register", "fromkeys",
    }
)  # fmt: skip
# Names that are unsafe as attributes but ordinary as dictionary keys (tool schemas use "format").
DATA_KEYS_OK = frozenset({"format", "register"})
DUNDER = re.compile(r"__\w+__")
# Filters whose `attribute=` argument becomes a getattr at render time.
ATTRIBUTE_FILTERS = frozenset({"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"})


class TemplateViolation(ValueError):
    """The template is refused; the message says where and why."""


class _GenerationTag(Extension):
    """Parse-only support for transformers' `{% generation %}...{% endgeneration %}` block."""

    tags = {"generation"}  # noqa: RUF012 - jinja2 API

    def parse(self, parser):  # type: ignore[no-untyped-def]
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


_ENV = ImmutableSandboxedEnvironment(extensions=[loopcontrols, _GenerationTag])


def _unsafe_name(name: str, as_key: bool = False) -> bool:
    if name.startswith("_"):
        return True
    return name in UNSAFE_ATTRIBUTES and not (as_key and name in DATA_KEYS_OK)


def _const(node: nodes.Node) -> object:
    """The node's value when it folds to a constant (e.g. '__cla' ~ 'ss__'), else a sentinel."""
    try:
        return node.as_const()  # type: ignore[attr-defined]
    except Exception:  # Impossible and anything else: not a constant
        return _NOT_CONST


_NOT_CONST = object()


def check_template(source: str, max_bytes: int) -> list[str]:
    """Problems found in one template (empty list: accepted). Never raises on any input string."""
    if len(source.encode("utf-8", "surrogatepass")) > max_bytes:
        return [f"template is larger than {max_bytes} bytes"]
    try:
        ast = _ENV.parse(source)
        return _walk(ast)
    except TemplateError as exc:
        return [f"template does not parse: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"]
    except RecursionError:
        return ["template is nested too deeply to audit"]


def _walk(ast: nodes.Template) -> list[str]:
    problems: list[str] = []

    def add(node: nodes.Node, text: str) -> None:
        problems.append(f"line {getattr(node, 'lineno', '?')}: {text}")

    for node in ast.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr | nodes.NSRef) and _unsafe_name(node.attr):
            add(node, f"attribute access .{node.attr} is refused")
        elif isinstance(node, nodes.Getitem):
            key = _const(node.arg)
            if isinstance(key, str) and _unsafe_name(key, as_key=True):
                add(node, f"item access [{key!r}] is refused")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and DUNDER.search(node.value):
            add(node, f"string constant names a dunder attribute ({DUNDER.search(node.value).group(0)})")  # type: ignore[union-attr]
        elif isinstance(node, nodes.Filter | nodes.Test):
            _check_filter(node, add)
        elif isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            add(node, f"{type(node).__name__.lower()} of another template is refused")
    return problems


def _check_filter(node: nodes.Filter | nodes.Test, add) -> None:  # type: ignore[no-untyped-def]
    args = list(node.args)
    if node.name in ("map", "select", "reject") and args and _const(args[0]) == "attr":
        node_name, args = "attr", args[1:]  # map('attr', NAME) applies the attr filter to each item
    else:
        node_name = node.name
    if node_name == "attr":
        names = [_const(arg) for arg in args]
        if not names or not all(isinstance(n, str) for n in names):
            add(node, "attr filter with a computed attribute name is refused")
        elif any(_unsafe_name(n) for n in names):  # type: ignore[arg-type]
            add(node, f"attr filter on {names[0]!r} is refused")
    if node.name in ATTRIBUTE_FILTERS:
        for kw in node.kwargs:
            if kw.key == "attribute":
                value = _const(kw.value)
                if not isinstance(value, str | int):
                    add(node, f"{node.name} filter with a computed attribute is refused")
                elif isinstance(value, str) and any(_unsafe_name(p) for p in value.split(".")):
                    add(node, f"{node.name} filter on attribute {value!r} is refused")
