"""Identifier renaming that keeps meaning: synonyms per word, a random naming style, an optional namespace.

A memorised answer key (`calculate_triangle_area(base=10, height=5)`) must fail on a perturbed task, yet an
honest model must still be able to tell what the function does; so a name keeps its words' meaning (`compute`
for `calculate`, `triangle`, `area`) and changes its spelling, style (snake, camel) and namespace.
"""

from __future__ import annotations

import random
import re

SYNONYMS: dict[str, tuple[str, ...]] = {
    "get": ("fetch", "retrieve", "obtain", "lookup", "read"),
    "fetch": ("get", "retrieve", "obtain", "pull"),
    "retrieve": ("get", "fetch", "obtain"),
    "find": ("search", "locate", "lookup", "discover"),
    "search": ("find", "lookup", "query", "seek"),
    "calculate": ("compute", "calc", "determine", "evaluate", "work_out"),
    "calc": ("compute", "calculate", "determine"),
    "compute": ("calculate", "calc", "determine"),
    "create": ("make", "add", "new", "register"),
    "add": ("insert", "append", "create"),
    "delete": ("remove", "erase", "drop"),
    "remove": ("delete", "erase", "drop"),
    "update": ("modify", "change", "edit", "set"),
    "set": ("configure", "assign", "update"),
    "list": ("enumerate", "show", "all"),
    "send": ("dispatch", "transmit", "deliver"),
    "convert": ("transform", "translate", "change"),
    "check": ("verify", "inspect", "test"),
    "book": ("reserve", "schedule"),
    "estimate": ("approximate", "predict", "project"),
    "predict": ("forecast", "estimate", "project"),
    "analyze": ("examine", "assess", "study"),
    "generate": ("produce", "make", "build"),
    "play": ("start", "stream"),
    "total": ("overall", "sum"),
    "number": ("count", "num", "quantity"),
    "count": ("number", "quantity", "num"),
    "info": ("details", "information", "data"),
    "details": ("info", "information"),
    "data": ("info", "records"),
    "current": ("present", "latest", "now"),
    "average": ("mean", "avg"),
    "distance": ("length", "span"),
    "price": ("cost", "rate"),
    "cost": ("price", "charge"),
    "weather": ("climate", "meteo"),
    "temperature": ("temp",),
    "location": ("place", "position", "locale"),
    "city": ("town", "municipality"),
    "name": ("title",),
    "type": ("kind", "category"),
    "amount": ("sum", "quantity", "value"),
    "value": ("amount", "quantity"),
    "date": ("day",),
    "year": ("yr", "annum"),
    "user": ("person", "account", "member"),
    "movie": ("film", "picture"),
    "song": ("track", "tune"),
    "book_title": ("title",),
    "area": ("surface", "extent"),
    "length": ("size", "extent"),
    "rate": ("ratio", "pace"),
    "interest": ("yield", "return"),
    "score": ("points", "mark"),
    "probability": ("chance", "likelihood"),
    "event": ("happening", "occasion"),
    "restaurant": ("eatery", "diner"),
    "recipe": ("dish", "formula"),
    "stock": ("share", "equity"),
    "company": ("firm", "business"),
    "country": ("nation", "state"),
    "language": ("lang", "tongue"),
    "limit": ("cap", "max", "bound"),
    "max": ("maximum", "upper", "limit"),
    "min": ("minimum", "lower"),
    "start": ("begin", "from", "initial"),
    "end": ("finish", "until", "final"),
    "unit": ("measure", "units"),
    "include": ("with", "add"),
    "details_level": ("detail",),
}
NAMESPACES = (
    "api", "svc", "tools", "core", "util", "kit", "ops", "app", "lib", "hub", "desk", "engine", "service",
    "helper", "agent", "sys", "net", "base", "main", "pro",
)  # fmt: skip

_FUNCTION_SUFFIXES = ("v2", "op", "fn", "call", "run", "api", "tool")
_PARAM_SUFFIXES = ("value", "val", "param", "arg", "input", "in")
_SPLIT = re.compile(r"[._\-\s]+|(?<=[a-z0-9])(?=[A-Z])")


def words_of(identifier: str) -> list[str]:
    return [w.lower() for w in _SPLIT.split(identifier) if w]


def style(words: list[str], rng: random.Random) -> str:
    """Join words as snake_case or camelCase (the two styles BFCL's schemas use)."""
    if rng.random() < 0.5 or any(len(w) == 1 or w[:1].isdigit() for w in words):
        return "_".join(words)
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def rename(identifier: str, rng: random.Random, taken: set[str], namespace: bool) -> str:
    """A fresh identifier with the same meaning, not in `taken` and different from the original."""
    original = words_of(identifier) or ["fn"]
    for attempt in range(40):
        words: list[str] = []
        for word in original:
            options = SYNONYMS.get(word)
            chosen = rng.choice(options) if options and rng.random() < 0.8 else word
            words.extend(chosen.split("_"))
        if namespace and rng.random() < 0.5:
            words = [rng.choice(NAMESPACES), *words]
        if attempt > 4 or words == original:
            words = [*words, rng.choice(_FUNCTION_SUFFIXES if namespace else _PARAM_SUFFIXES)]
        name = style(words, rng)
        if name != identifier and name not in taken and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            taken.add(name)
            return name
    raise ValueError(f"cannot rename {identifier!r}")
