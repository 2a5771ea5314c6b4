"""Turn a model's answer into tool calls without executing anything.

Models answer in many shapes: native OpenAI `tool_calls`, a python-style list `[f(a=1), g(b="x")]` (the BFCL
prompt style), JSON objects or lists, often wrapped in ```json fences or `<tool_call>` tags, sometimes with
prose around them. Everything here is parsed with `ast` and `json` only; `eval` is never used, so a hostile
answer cannot run code on the validator. Any input yields a `ParsedCalls`; nothing raises.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_CHARS = 65_536
"""Longer answers are cut before parsing: a real call list is far shorter, and it bounds parser work."""

Call = dict[str, dict[str, Any]]
"""One call in BFCL's decoded form: `{function_name: {argument: value}}`."""


@dataclass(frozen=True)
class ParsedCalls:
    calls: list[Call] = field(default_factory=list)
    format: str = "none"
    """native, python, json or none."""
    error: str | None = None
    """Why nothing could be decoded, when the text looked like neither calls nor a plain answer."""
    text: str = ""
    """The answer's text without `<think>` blocks: judged as plain words where no call is the right answer."""

    @property
    def decoded(self) -> bool:
        return self.format != "none"


class _NotACall(ValueError):
    pass


_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*\s*\n?(.*?)```", re.DOTALL)
_TAGS = re.compile(r"<(tool_call|function_call|tool_calls|functioncall)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_PREFIXES = ("<|python_tag|>", "[TOOL_CALLS]", "<tool_call>", "functools")


def parse_tool_calls(content: Any = None, tool_calls: Any = None) -> ParsedCalls:
    """Decode calls from a chat message: native `tool_calls` win when present, else the text `content`."""
    try:
        if tool_calls:
            native = _parse_native(tool_calls)
            if native is not None:
                return native
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(
                p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        if not isinstance(content, str):
            return ParsedCalls(error="no content")
        return parse_text(content)
    except Exception as exc:  # the contract is "never raises"; a parser bug must not kill an evaluation
        return ParsedCalls(error=f"parser error: {type(exc).__name__}")


def parse_message(message: Any) -> ParsedCalls:
    """Decode an OpenAI chat `message` object (the `choices[0].message` of a response)."""
    if not isinstance(message, dict):
        return ParsedCalls(error="message is not an object")
    return parse_tool_calls(message.get("content"), message.get("tool_calls"))


def _parse_native(tool_calls: Any) -> ParsedCalls | None:
    if not isinstance(tool_calls, list):
        return ParsedCalls(error="tool_calls is not a list")
    calls: list[Call] = []
    for item in tool_calls:
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return ParsedCalls(error="tool_calls entry without function name")
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except (json.JSONDecodeError, RecursionError):
                return ParsedCalls(error=f"arguments of {fn['name']!r} are not JSON")
        if not isinstance(args, dict):
            return ParsedCalls(error=f"arguments of {fn['name']!r} are not an object")
        calls.append({fn["name"]: args})
    return ParsedCalls(calls=calls, format="native")


def parse_text(text: str) -> ParsedCalls:
    """Decode calls from free text; a plain answer without calls gives zero calls and format `none`."""
    text = _THINK.sub("", text[:MAX_TEXT_CHARS])
    for candidate in _candidates(text):
        parsed = _parse_candidate(candidate)
        if parsed is not None:
            return parsed
    return ParsedCalls(error="no tool call found", text=text)


def _candidates(text: str) -> list[str]:
    """Pieces of the text that may hold calls, most specific first."""
    out: list[str] = []
    tagged = [m.group(2).strip() for m in _TAGS.finditer(text)]
    if tagged:
        out.append("\n".join(tagged) if len(tagged) == 1 else "[" + ",".join(tagged) + "]")
        out.extend(tagged)
    out.extend(m.group(1).strip() for m in _FENCE.finditer(text))
    stripped = text.strip()
    for prefix in _PREFIXES:
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix) :].strip()
    stripped = re.sub(r"</?tool_calls?>", "", stripped).strip()
    out.append(stripped)
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = stripped.find(opener), stripped.rfind(closer)
        if 0 <= start < end:
            out.append(stripped[start : end + 1])
    return [c for c in out if c]


def _parse_candidate(text: str) -> ParsedCalls | None:
    if text[:1] in "[{":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            data = None
        else:
            calls = _calls_from_json(data)
            if calls is not None:
                return ParsedCalls(calls=calls, format="json")
    calls = _calls_from_python(text)
    if calls is not None:
        return ParsedCalls(calls=calls, format="python")
    return None


def _calls_from_json(data: Any) -> list[Call] | None:
    if isinstance(data, dict) and isinstance(data.get("tool_calls"), list):
        data = data["tool_calls"]
    items = data if isinstance(data, list) else [data]
    calls: list[Call] = []
    for item in items:
        call = _call_from_json_object(item)
        if call is None:
            return None
        calls.append(call)
    return calls


def _call_from_json_object(item: Any) -> Call | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI shape written out as text
        item = item["function"]
    name = item.get("name")
    if isinstance(name, str):
        args = item.get("arguments", item.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (json.JSONDecodeError, RecursionError):
                return None
        return {name: args} if isinstance(args, dict) else None
    if len(item) == 1:  # BFCL decoded shape {name: {args}}
        ((key, value),) = item.items()
        if isinstance(value, dict):
            return {key: value}
    return None


def _calls_from_python(text: str) -> list[Call] | None:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    body = tree.body
    nodes = body.elts if isinstance(body, ast.List | ast.Tuple) else [body]
    calls: list[Call] = []
    try:
        for node in nodes:
            if not isinstance(node, ast.Call) or node.args:
                return None  # positional arguments cannot be matched to names
            name = _dotted_name(node.func)
            args: dict[str, Any] = {}
            for kw in node.keywords:
                if kw.arg is None:
                    return None  # **kwargs
                args[kw.arg] = _literal(kw.value)
            calls.append({name: args})
    except (_NotACall, RecursionError):
        return None
    return calls


def _dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    raise _NotACall("function is not a name")


def _literal(node: ast.AST) -> Any:
    """A literal value; a bare name becomes its text (BFCL treats variables as strings)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bytes | complex) or node.value is Ellipsis:
            raise _NotACall("unsupported constant")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _literal(node.operand)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _NotACall("sign on a non-number")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                raise _NotACall("dict unpacking")
            key = _literal(k)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise _NotACall("unhashable key")
            out[key] = _literal(v)
        return out
    if isinstance(node, ast.Name | ast.Attribute):
        return _dotted_name(node)
    raise _NotACall(f"not a literal: {type(node).__name__}")
