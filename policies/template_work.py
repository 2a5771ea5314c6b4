"""The total work a chat template can do per render, bounded statically (never rendered here).

Bounding each literal is not enough: three nested `range(4096)` loops are each under the literal cap and
together run 68 billion times. So the audit estimates, on jinja2's AST:

- **iterations**: every loop multiplies the loops it encloses by its own bound. A bound is literal (`range(50)`,
  a list literal, a `set` variable holding one) or follows the input (`for m in messages`, `range(x | length)`);
  the literal product summed over all loops must stay under `MAX_ITERATIONS`, and loops over the input may nest
  at most `MAX_INPUT_NESTING` deep (messages, their parts or tool calls, their arguments). A range whose bound is
  neither counts as Jinja's sandbox cap (100,000 items), so it is refused. Macros count at each call, with the
  loops around the call.
- **recursion**: a macro that calls itself (directly or through others) and `recursive` loops are refused: their
  depth and fan-out are not bounded by anything in the template.
- **output growth**: a value may be built up by assignments (`set ns.out = ns.out ~ x`), but an assignment that
  joins two such built-up values (`s ~ s`, `a ~ b`) could double on every run, and a repeat (`*`) of one could
  multiply it; both are refused. Repeats need a literal count up to `MAX_REPEAT`; width-like filter arguments
  (`center`, `indent`, `batch`, `slice`, `tojson(indent=)`, printf widths in `format`) must be small literals;
  `replace` must not insert more than `MAX_REPLACE_GROWTH` characters per character replaced.

What remains bounded only by the engine's render deadline (docs/policy.md lists it): work proportional to
powers of the input's size within the nesting allowed (a loop over a message's characters nested in another).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from jinja2 import nodes

MAX_ITERATIONS = 65_536  # literal loop iterations per render, all loops together
MAX_INPUT_NESTING = 4  # loops over the input nested in each other
MAX_REPEAT = 4096  # count of a `*` repeat
MAX_WIDTH = 4096  # center/batch/slice sizes
MAX_INDENT = 64  # indent/tojson indent: paid once per line
MAX_REPLACE_GROWTH = 64  # characters a replace may insert per character it removes
SANDBOX_RANGE = 100_000  # jinja2.sandbox.MAX_RANGE: the most a computed range() yields in the engine

WIDTH_FILTERS = {"center": MAX_WIDTH, "batch": MAX_WIDTH, "slice": MAX_WIDTH, "indent": MAX_INDENT}
GROWTH_FILTERS = frozenset({"replace", "center", "indent", "format", "join", "batch", "slice", "wordwrap"})
STRING_METHODS = frozenset(
    {"strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize", "replace", "center", "ljust", "rjust"}
)
PRINTF_WIDTH = re.compile(r"%[-+ #0]*(\d*)(?:\.(\d*))?")


@dataclass(frozen=True)
class Bound:
    """An upper bound on a count: a literal part and whether it also follows the input's size."""

    literal: int = 1
    input: bool = False


UNBOUNDED = Bound(SANDBOX_RANGE, False)


@dataclass
class _Cost:
    iterations: int = 0
    nesting: int = 0


@dataclass
class _Audit:
    assigned: dict[str, list[nodes.Node]] = field(default_factory=dict)
    macros: dict[str, nodes.Macro] = field(default_factory=dict)
    grown: set[str] = field(default_factory=set)
    macro_costs: dict[str, _Cost] = field(default_factory=dict)
    in_progress: set[str] = field(default_factory=set)
    problems: list[tuple[nodes.Node, str]] = field(default_factory=list)

    def add(self, node: nodes.Node, text: str) -> None:
        self.problems.append((node, text))


def audit(ast: nodes.Template) -> list[tuple[nodes.Node, str]]:
    """(node, problem) for every way the template's work or output could run away."""
    state = _Audit()
    for node in ast.find_all((nodes.Assign, nodes.AssignBlock)):
        key = _target_key(node.target)
        if key:
            state.assigned.setdefault(key, []).append(node)
    for node in ast.find_all(nodes.Macro):
        if node.name in state.macros:
            state.add(node, f"macro {node.name!r} is defined twice")
        state.macros[node.name] = node
    for node in ast.find_all(nodes.For):
        if node.recursive:
            state.add(node, "recursive loops are refused (their depth is not bounded by the template)")
    _find_grown(state)
    _check_growth(ast, state)
    cost = _Cost()
    _walk(ast.body, 1, 0, state, cost)
    if cost.iterations > MAX_ITERATIONS:
        state.add(ast, f"loops run up to {cost.iterations:,} literal iterations per render (limit {MAX_ITERATIONS:,})")
    if cost.nesting > MAX_INPUT_NESTING:
        state.add(ast, f"loops over the input nest {cost.nesting} deep (limit {MAX_INPUT_NESTING})")
    return state.problems


# --- names --------------------------------------------------------------------------------------------------


def _target_key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.NSRef):
        return f"{node.name}.{node.attr}"
    return None


def _ref_key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return node.name
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return f"{node.node.name}.{node.attr}"
    return None


def _value_of(assign: nodes.Node) -> list[nodes.Node]:
    """The expressions whose text an assignment stores (a `{% set %}` block stores what its body outputs)."""
    if isinstance(assign, nodes.Assign):
        return [assign.node]
    return [expr for out in assign.find_all(nodes.Output) for expr in out.nodes]  # type: ignore[union-attr]


def _carried(node: nodes.Node) -> Iterator[nodes.Node]:
    """Sub-expressions whose text flows into the value of `node` (concatenation, repeats, conditionals, string
    filters and methods), as opposed to lengths, tests, comparisons and indices."""
    if isinstance(node, nodes.Concat):
        for n in node.nodes:
            yield from _carried(n)
    elif isinstance(node, nodes.Add | nodes.Mul):
        yield from _carried(node.left)
        yield from _carried(node.right)
    elif isinstance(node, nodes.CondExpr):
        yield from _carried(node.expr1)
        if node.expr2 is not None:
            yield from _carried(node.expr2)
    elif isinstance(node, nodes.Filter) and node.name not in ("length", "count", "int", "float", "abs"):
        if node.node is not None:
            yield from _carried(node.node)
        if node.name in GROWTH_FILTERS:
            for arg in node.args:
                yield from _carried(arg)
    elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr in STRING_METHODS:
        yield from _carried(node.node.node)
        for arg in node.args:
            yield from _carried(arg)
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
        yield from _carried(node.node)
    elif isinstance(node, nodes.List | nodes.Tuple):
        for item in node.items:
            yield from _carried(item)
    else:
        yield node


def _refs(node: nodes.Node, names: Iterable[str]) -> list[str]:
    wanted = set(names)
    return [key for n in _carried(node) if (key := _ref_key(n)) in wanted]


def _grows(node: nodes.Node, state: _Audit) -> bool:
    """True when the value joins or repeats something already assigned (so it can be longer than its text)."""
    if isinstance(node, nodes.Mul):  # a repeat is longer than its text, unless it is arithmetic on two numbers
        return not all(isinstance(_literal(n), int | float) for n in (node.left, node.right))
    return bool(_refs(node, state.assigned)) and len(list(_carried(node))) > 1


def _find_grown(state: _Audit) -> None:
    """Names that some assignment builds from other assigned values (flow-insensitive, to a fixpoint)."""
    changed = True
    while changed:
        changed = False
        for key, assigns in state.assigned.items():
            if key in state.grown:
                continue
            for assign in assigns:
                values = _value_of(assign)
                if len(values) > 1 or any(_grows(v, state) or _refs(v, state.grown) for v in values):
                    state.grown.add(key)
                    changed = True
                    break


def _check_growth(ast: nodes.Template, state: _Audit) -> None:
    for assign in ast.find_all((nodes.Assign, nodes.AssignBlock)):
        values = _value_of(assign)
        refs = [r for v in values for r in _refs(v, state.grown)]
        if len(refs) > 1:
            state.add(
                assign,
                f"an assignment joins {len(refs)} values that assignments build up ({', '.join(sorted(set(refs)))}): "
                "it could double on every run",
            )
    for node in ast.find_all(nodes.Mul):
        _check_repeat(node, state)
    for node in ast.find_all(nodes.Filter):
        _check_filter_growth(node, state)


def _check_repeat(node: nodes.Mul, state: _Audit) -> None:
    left, right = _literal(node.left), _literal(node.right)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return  # literal arithmetic: bounded by the literal checks
    if _refs(node.left, state.grown) or _refs(node.right, state.grown):
        state.add(node, "repeating (`*`) a value that assignments build up is refused")
        return
    product = _repeat_product(node)
    if product > MAX_REPEAT:
        state.add(node, f"repeats nested in repeats multiply to {product:,} (limit {MAX_REPEAT})")
        return
    counts = [c for c in (left, right) if isinstance(c, int)]
    if not counts:
        bound = max(_int_bound(node.left, state), _int_bound(node.right, state), key=lambda b: b.literal)
        short = any(isinstance(_literal(s), str) and len(_literal(s)) <= 16 for s in (node.left, node.right))  # type: ignore[arg-type]
        if not (short and bound.literal <= MAX_REPEAT):
            state.add(
                node, "a repeat (`*`) needs a literal count, or a short literal repeated a counted number of times"
            )
    elif max(abs(c) for c in counts) > MAX_REPEAT:
        state.add(node, f"repeating more than {MAX_REPEAT} times is refused")


def _repeat_product(node: nodes.Node) -> int:
    """The product of literal counts of repeats nested in each other's carried text (`('x' * 64) * 64`)."""
    if not isinstance(node, nodes.Mul):
        return max((_repeat_product(n) for n in _carried(node) if n is not node), default=1)
    left, right = _literal(node.left), _literal(node.right)
    count = max((abs(c) for c in (left, right) if isinstance(c, int) and not isinstance(c, bool)), default=1)
    inner = max(_repeat_product(n) for n in (node.left, node.right))
    return min(max(count, 1) * inner, 10**18)


def _check_filter_growth(node: nodes.Filter, state: _Audit) -> None:
    if node.name in WIDTH_FILTERS and node.args:
        cap = WIDTH_FILTERS[node.name]
        size = _literal(node.args[0])
        if not (isinstance(size, int) and abs(size) <= cap):
            state.add(node, f"{node.name} needs a literal size up to {cap}")
    if node.name == "tojson":
        for kw in node.kwargs:
            if kw.key == "indent" and not (isinstance(_literal(kw.value), int) and abs(kw.value.value) <= MAX_INDENT):
                state.add(node, f"tojson needs a literal indent up to {MAX_INDENT}")
    if node.name == "format":
        text = _literal(node.node) if node.node is not None else None
        if not isinstance(text, str):
            state.add(node, "format filter with a computed format string is refused")
        elif any(len(w) > 3 or len(p or "") > 3 for w, p in PRINTF_WIDTH.findall(text)):
            state.add(node, "format widths or precisions over 3 digits are refused")
    if node.name == "replace" and len(node.args) >= 2:
        old, new = _literal(node.args[0]), _literal(node.args[1])
        if not isinstance(new, str) or not isinstance(old, str):
            state.add(node, "replace with a computed text is refused")
        elif not old or len(new) > MAX_REPLACE_GROWTH * len(old):
            state.add(node, f"replace that inserts more than {MAX_REPLACE_GROWTH} characters per character is refused")


# --- literals and bounds ------------------------------------------------------------------------------------


def _literal(node: nodes.Node) -> object:
    """A small literal (int, float, str, bool, None, or a list of those), else None."""
    if isinstance(node, nodes.Const) and isinstance(node.value, int | float | str | bool):
        if isinstance(node.value, int) and abs(node.value).bit_length() > 64:
            return None
        return node.value
    if isinstance(node, nodes.Neg) and isinstance(node.node, nodes.Const) and isinstance(node.node.value, int):
        return -node.node.value
    return None


def _int_bound(node: nodes.Node, state: _Audit, seen: frozenset[str] = frozenset()) -> Bound:
    """An upper bound on an integer expression's value."""
    value = _literal(node)
    if isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        return Bound(max(abs(value), 1))
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 20:
        return Bound(max(abs(int(value)), 1))
    if isinstance(node, nodes.Filter) and node.name in ("length", "count"):
        inner = _literal(node.node) if node.node is not None else None
        return Bound(max(len(inner), 1)) if isinstance(inner, str) else _iter_bound(node.node, state, seen)  # type: ignore[arg-type]
    if isinstance(node, nodes.Filter) and node.name in ("int", "abs", "round") and node.node is not None:
        return _int_bound(node.node, state, seen)
    if isinstance(node, nodes.Add | nodes.Sub):
        a, b = _int_bound(node.left, state, seen), _int_bound(node.right, state, seen)
        return Bound(a.literal + b.literal, a.input or b.input)
    if isinstance(node, nodes.Mul):
        a, b = _int_bound(node.left, state, seen), _int_bound(node.right, state, seen)
        return Bound(a.literal * b.literal, a.input or b.input)
    if isinstance(node, nodes.FloorDiv | nodes.Div | nodes.Mod) and node.left is not None:
        return _int_bound(node.left, state, seen)
    if isinstance(node, nodes.Neg | nodes.Pos):
        return _int_bound(node.node, state, seen)
    key = _ref_key(node)
    if key is not None and key in state.assigned:
        return _assigned_bound(key, state, seen, _int_bound)
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        return Bound(1, True)  # the input (messages, loop.index, a tool's field): sized by the validator
    return UNBOUNDED


def _assigned_bound(key: str, state: _Audit, seen: frozenset[str], of) -> Bound:  # type: ignore[no-untyped-def]
    if key in seen:
        return Bound(1, True)  # `set messages = messages[1:]`: the value it had, from the input (growth: see Add)
    bounds = [
        of(assign.node, state, seen | {key}) if isinstance(assign, nodes.Assign) else UNBOUNDED
        for assign in state.assigned[key]
    ]
    return Bound(max(b.literal for b in bounds), any(b.input for b in bounds))


def _iter_bound(node: nodes.Node, state: _Audit, seen: frozenset[str] = frozenset()) -> Bound:
    """An upper bound on how many items iterating `node` yields."""
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
        if not node.args or node.kwargs or node.dyn_args or node.dyn_kwargs:
            return UNBOUNDED
        stop = node.args[1] if len(node.args) > 1 else node.args[0]
        return _int_bound(stop, state, seen)
    if isinstance(node, nodes.List | nodes.Tuple | nodes.Dict):
        return Bound(max(len(node.items), 1))
    if isinstance(node, nodes.Const) and not isinstance(node.value, str):
        return Bound(1)  # none, a number: nothing to iterate
    value = _literal(node)
    if isinstance(value, str):
        return Bound(max(len(value), 1))
    if isinstance(node, nodes.Mul):
        a, b = _iter_bound(node.left, state, seen), _int_bound(node.right, state, seen)
        if _literal(node.left) is not None and not isinstance(_literal(node.left), str):
            a, b = _int_bound(node.left, state, seen), _iter_bound(node.right, state, seen)
        return Bound(a.literal * b.literal, a.input or b.input)
    if isinstance(node, nodes.Add):
        if _refs(node, seen):
            return UNBOUNDED  # `set xs = xs + [...]`: grows with every run, by however many runs there are
        a, b = _iter_bound(node.left, state, seen), _iter_bound(node.right, state, seen)
        return Bound(a.literal + b.literal, a.input or b.input)
    if isinstance(node, nodes.Filter) and node.node is not None:
        return _iter_bound(node.node, state, seen)
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        return _iter_bound(node.node.node, state, seen)  # .items(), .keys(), .values(), .split()
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
        return _iter_bound(node.node, state, seen)
    key = _ref_key(node)
    if key is not None and key in state.assigned:
        return _assigned_bound(key, state, seen, _iter_bound)
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        return Bound(1, True)
    return UNBOUNDED


# --- iterations ---------------------------------------------------------------------------------------------


def _walk(body: Iterable[nodes.Node], mult: int, depth: int, state: _Audit, cost: _Cost) -> None:
    """Add the iterations of `body` run `mult` times (literal) inside `depth` input loops; calls count macros."""
    for node in body:
        if isinstance(node, nodes.Macro):
            continue  # counted where it is called
        if isinstance(node, nodes.For):
            bound = _iter_bound(node.iter, state)
            inner_mult = min(mult * bound.literal, 10**18)
            inner_depth = depth + bound.input
            cost.iterations = min(cost.iterations + inner_mult, 10**18)
            cost.nesting = max(cost.nesting, inner_depth)
            _calls(node.iter, mult, depth, state, cost)
            _walk(node.body, inner_mult, inner_depth, state, cost)
            _walk(node.else_, mult, depth, state, cost)
            continue
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Stmt | nodes.Template):
                _walk([child], mult, depth, state, cost)
            else:
                _calls(child, mult, depth, state, cost)


def _calls(expr: nodes.Node, mult: int, depth: int, state: _Audit, cost: _Cost) -> None:
    """Macro calls inside an expression: each costs its macro's body at this point's multiplier."""
    found = [expr] if isinstance(expr, nodes.Call) else []
    for call in found + list(expr.find_all(nodes.Call)):
        if isinstance(call.node, nodes.Name) and call.node.name in state.macros:
            own = _macro_cost(call.node.name, state)
            cost.iterations = min(cost.iterations + mult * own.iterations, 10**18)
            cost.nesting = max(cost.nesting, depth + own.nesting)


def _macro_cost(name: str, state: _Audit) -> _Cost:
    if name in state.macro_costs:
        return state.macro_costs[name]
    if name in state.in_progress:
        state.add(state.macros[name], f"macro {name!r} calls itself (recursion is refused)")
        state.macro_costs[name] = _Cost()
        return state.macro_costs[name]
    state.in_progress.add(name)
    cost = _Cost()
    _walk(state.macros[name].body, 1, 0, state, cost)
    state.in_progress.discard(name)
    state.macro_costs.setdefault(name, cost)
    return state.macro_costs[name]
