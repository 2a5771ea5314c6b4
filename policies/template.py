"""Static audit of a chat template: parse to an AST with jinja2 and walk it, never render.

The engine renders templates inside the sandbox with a sandboxed Jinja; this check refuses, before any
container starts, templates that reach for what such a sandbox refuses (underscore/dunder attributes,
`mro`, frame/code objects, `str.format` tricks) or that load other templates. A template that passes here
uses plain data access such as `message.content` or `message['role']`. The work a render can do (loops nested
in loops, macros, recursion, output that grows) is bounded by `policies.template_work`.
"""

from __future__ import annotations

import re

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from policies import template_work

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


_NOT_CONST = object()
# Folded strings longer than this are not folded: a name worth refusing is short, and folding without a bound
# was the attack (`'a' * 10**9`, `9 ** 9 ** 9` in one index expression stalled or exhausted the checker).
MAX_FOLDED_CHARS = 256
# Literal loop sizes and string repeat counts beyond this are refused: chat templates need none of them.
MAX_RANGE = 4096
# Filters that are pure and cheap on short strings; anything else leaves the value "not constant".
_STRING_FILTERS = {
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "capitalize": str.capitalize,
    "trim": str.strip,
    "string": str,
    "reverse": lambda s: s[::-1],
}


def _const(node: nodes.Node) -> object:
    """The node's value when it folds, within `MAX_FOLDED_CHARS`, to a short string or a literal; else a sentinel.

    Only literals, concatenation (`~`, `+` of strings), joins and a few string filters fold. Arithmetic is never
    evaluated: `as_const()` would compute `9 ** 9 ** 9` or `'x' * 10**9`, whose cost an attacker chooses.
    """
    value = _fold(node)
    if isinstance(value, str) and len(value) > MAX_FOLDED_CHARS:
        return _NOT_CONST
    return value


def _fold(node: nodes.Node) -> object:
    if isinstance(node, nodes.Const):
        value = node.value
        return value if value is None or isinstance(value, str | bool | int | float) else _NOT_CONST
    if isinstance(node, nodes.Concat):
        parts = [_fold(n) for n in node.nodes]
        if any(p is _NOT_CONST for p in parts):
            return _NOT_CONST
        return _short("".join(str(p) for p in parts))
    if isinstance(node, nodes.Add):
        left, right = _fold(node.left), _fold(node.right)
        if isinstance(left, str) and isinstance(right, str):
            return _short(left + right)
        return _NOT_CONST
    if isinstance(node, nodes.Filter) and node.node is not None and not node.kwargs:
        return _fold_filter(node)
    return _NOT_CONST


def _short(value: str) -> object:
    return value if len(value) <= MAX_FOLDED_CHARS else _NOT_CONST


def _fold_filter(node: nodes.Filter) -> object:
    value = _fold(node.node)  # type: ignore[arg-type]
    if not isinstance(value, str):
        return _NOT_CONST
    args = [_fold(a) for a in node.args]
    if node.name in _STRING_FILTERS and not args:
        return _short(_STRING_FILTERS[node.name](value))
    if node.name == "replace" and len(args) == 2 and all(isinstance(a, str) for a in args):
        old, new = args
        if old and len(value) // len(old) * len(new) > MAX_FOLDED_CHARS:  # bound before computing
            return _NOT_CONST
        return _short(value.replace(old, new))  # type: ignore[arg-type]
    return _NOT_CONST


def check_template(source: str, max_bytes: int) -> list[str]:
    """Problems found in one template (empty list: accepted). Never raises on any input string."""
    if len(source.encode("utf-8", "surrogatepass")) > max_bytes:
        return [f"template is larger than {max_bytes} bytes"]
    try:
        ast = _ENV.parse(source)
        return _walk(ast) + [
            f"line {getattr(node, 'lineno', '?')}: {text}" if not isinstance(node, nodes.Template) else text
            for node, text in template_work.audit(ast)
        ]
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
        elif isinstance(node, nodes.Concat | nodes.Add | nodes.Filter) and _names_dunder(node):
            add(node, f"string expression builds a dunder name ({_names_dunder(node)})")
        elif isinstance(node, nodes.Filter | nodes.Test):
            _check_filter(node, add)
        elif isinstance(node, nodes.Call | nodes.Pow | nodes.Mul) and _runaway(node):
            add(node, _runaway(node))  # type: ignore[arg-type]
        elif isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            add(node, f"{type(node).__name__.lower()} of another template is refused")
    return problems


_TOO_BIG = object()
MAX_LITERAL_BITS = 128


def _literal_int(node: nodes.Node) -> object:
    """An integer built from literals only, computed when it stays under `MAX_LITERAL_BITS` bits (bounded before
    computing); `_TOO_BIG` when it would not; None when it is not literal arithmetic."""
    if isinstance(node, nodes.Const):
        return node.value if type(node.value) is int and node.value.bit_length() <= MAX_LITERAL_BITS else None
    if isinstance(node, nodes.Neg | nodes.Pos):
        value = _literal_int(node.node)
        return -value if isinstance(value, int) else value  # type: ignore[operator]
    if not isinstance(node, nodes.Add | nodes.Sub | nodes.Mul | nodes.Pow):
        return None
    left, right = _literal_int(node.left), _literal_int(node.right)
    if left is _TOO_BIG or right is _TOO_BIG:
        return _TOO_BIG
    if not (isinstance(left, int) and isinstance(right, int)):
        return _TOO_BIG if isinstance(node, nodes.Pow) and not isinstance(right, int) else None
    if isinstance(node, nodes.Pow):
        if right < 0 or (abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_LITERAL_BITS):
            return _TOO_BIG
        return left**right
    result = (
        left + right if isinstance(node, nodes.Add) else left - right if isinstance(node, nodes.Sub) else left * right
    )
    return result if result.bit_length() <= MAX_LITERAL_BITS else _TOO_BIG


def _runaway(node: nodes.Node) -> str | None:
    """Literal work the engine would do on every render: `range(10**9)` loops, `9 ** 9 ** 9`, `'x' * 10**9`.
    Nothing unbounded is computed here: integers are only computed while they stay small."""
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
        sizes = [_literal_int(a) for a in node.args]
        if any(v is _TOO_BIG or (isinstance(v, int) and abs(v) > MAX_RANGE) for v in sizes):
            return f"range() over more than {MAX_RANGE} items is refused"
    if isinstance(node, nodes.Pow | nodes.Mul) and _literal_int(node) is _TOO_BIG:
        return f"literal arithmetic beyond {MAX_LITERAL_BITS} bits is refused"
    if isinstance(node, nodes.Mul):
        for text, count in ((node.left, node.right), (node.right, node.left)):
            n = _literal_int(count)
            too_many = n is _TOO_BIG or (isinstance(n, int) and abs(n) > MAX_RANGE)
            if too_many and isinstance(_const(text), str):
                return f"repeating a string more than {MAX_RANGE} times is refused"
    return None


def _names_dunder(node: nodes.Node) -> str | None:
    value = _const(node)
    found = DUNDER.search(value) if isinstance(value, str) else None
    return found.group(0) if found else None


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
