"""Rewrites of a BFCL entry's function docs that keep their meaning: description words said another way, the
description's sentences in another order, `properties` and `required` in another order.

A lookup miner recognises a renamed function by its description and maps parameters by their position; with
the words, sentence order and parameter order all seeded per round, neither a masked description nor a position
identifies them any more. Only plain lowercase words outside quotes are rewritten: quoted examples, enum values,
defaults and identifiers stay as they are, so every value a description names is still named.
"""

from __future__ import annotations

import random
import re
from typing import Any

DESCRIPTION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "retrieve": ("fetch", "get", "obtain", "look up"),
    "retrieves": ("fetches", "gets", "obtains", "looks up"),
    "get": ("fetch", "obtain", "retrieve"),
    "gets": ("fetches", "obtains", "retrieves"),
    "fetch": ("retrieve", "get", "obtain"),
    "fetches": ("retrieves", "gets", "obtains"),
    "calculate": ("compute", "work out", "determine"),
    "calculates": ("computes", "works out", "determines"),
    "compute": ("calculate", "work out"),
    "computes": ("calculates", "works out"),
    "find": ("locate", "look up", "search for"),
    "finds": ("locates", "looks up", "searches for"),
    "search": ("look", "query"),
    "returns": ("gives back", "yields", "provides"),
    "return": ("give back", "yield", "provide"),
    "provides": ("gives", "supplies", "offers"),
    "specified": ("requested", "chosen"),
    "specific": ("particular",),
    "particular": ("specific",),
    "information": ("details", "info", "data"),
    "details": ("information", "particulars"),
    "number": ("count", "quantity"),
    "amount": ("quantity", "sum"),
    "user": ("person", "caller"),
    "list": ("set", "collection"),
    "create": ("make", "set up"),
    "creates": ("makes", "sets up"),
    "generate": ("produce", "create"),
    "generates": ("produces", "creates"),
    "determine": ("work out", "establish"),
    "determines": ("works out", "establishes"),
    "optional": ("not required", "may be omitted"),
    "default": ("fallback", "preset"),
    "identifier": ("id", "key"),
    "unique": ("distinct",),
    "desired": ("wanted", "requested"),
    "total": ("overall", "whole"),
    "various": ("several", "different"),
    "display": ("show", "present"),
    "displays": ("shows", "presents"),
    "used": ("employed", "applied"),
    "perform": ("carry out", "run"),
    "performs": ("carries out", "runs"),
    "current": ("present", "latest"),
    "location": ("place", "position"),
    "city": ("town",),
    "type": ("kind", "sort"),
    "value": ("amount", "figure"),
    "function": ("tool", "routine"),
    "method": ("approach", "technique"),
    "format": ("layout", "form"),
    "should": ("ought to", "must"),
    "must": ("has to", "should"),
    "include": ("contain", "cover"),
    "includes": ("contains", "covers"),
    "including": ("containing", "covering"),
    "whether": ("if",),
    "specify": ("state", "give"),
    "represents": ("stands for", "denotes"),
    "represent": ("stand for", "denote"),
    "indicating": ("showing", "stating"),
    "indicates": ("shows", "states"),
    "maximum": ("largest", "highest", "upper"),
    "minimum": ("smallest", "lowest", "lower"),
    "results": ("outcomes", "matches"),
    "query": ("request", "search"),
    "target": ("intended", "goal"),
    "select": ("choose", "pick"),
    "selected": ("chosen", "picked"),
    "available": ("offered", "on offer"),
}
_WORD = re.compile(r"[a-z]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\([^)]*\)|\[[^\]]*\]|\{[^}]*\}")
_SENTENCE = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")


def rewrite_words(text: str, rng: random.Random, keep: set[str]) -> str:
    """Lowercase words outside quotes and brackets said by a synonym; words in `keep` are left alone."""
    out, last = [], 0
    for match in _QUOTED.finditer(text):
        out.append(_rewrite_plain(text[last : match.start()], rng, keep))
        out.append(match.group(0))
        last = match.end()
    out.append(_rewrite_plain(text[last:], rng, keep))
    return "".join(out)


def _rewrite_plain(text: str, rng: random.Random, keep: set[str]) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        options = DESCRIPTION_SYNONYMS.get(word)
        start, end = match.span()
        if not options or word in keep or (text[end : end + 1] in ("_", ".") and text[end + 1 : end + 2].isalnum()):
            return word
        if start and text[start - 1] in "_.":
            return word
        return rng.choice(options) if rng.random() < 0.7 else word

    return _WORD.sub(swap, text)


def reorder_sentences(text: str, rng: random.Random) -> str:
    """The description's sentences in a seeded order (the first one, which says what the tool does, may move)."""
    sentences = _SENTENCE.split(text.strip())
    if len(sentences) < 2 or any(not s.rstrip().endswith((".", "!", "?")) for s in sentences[:-1]):
        return text
    if not sentences[-1].rstrip().endswith((".", "!", "?")):
        sentences[-1] = sentences[-1].rstrip() + "."
    rng.shuffle(sentences)
    return " ".join(sentences)


def _values_named(spec: Any) -> set[str]:
    """Words of every enum value and default in a schema: a description may name them, so they stay."""
    words: set[str] = set()
    if isinstance(spec, dict):
        for key in ("enum", "default"):
            values = spec.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str):
                    words |= set(_WORD.findall(value.lower()))
        for value in spec.values():
            words |= _values_named(value)
    elif isinstance(spec, list):
        for value in spec:
            words |= _values_named(value)
    return words


def rewrite_description(text: Any, rng: random.Random, keep: set[str]) -> Any:
    if not isinstance(text, str) or not text.strip():
        return text
    return reorder_sentences(rewrite_words(text, rng, keep), rng)


def _rewrite_schema(spec: Any, rng: random.Random, keep: set[str]) -> Any:
    if not isinstance(spec, dict):
        return spec
    out = dict(spec)
    if "description" in out:
        out["description"] = rewrite_description(out["description"], rng, keep)
    if isinstance(out.get("properties"), dict):
        names = list(out["properties"])
        rng.shuffle(names)
        out["properties"] = {n: _rewrite_schema(out["properties"][n], rng, keep) for n in names}
        if isinstance(out.get("required"), list):
            required = list(out["required"])
            rng.shuffle(required)
            out["required"] = required
    if isinstance(out.get("items"), dict):
        out["items"] = _rewrite_schema(out["items"], rng, keep)
    return out


def rewrite_function(function: dict, rng: random.Random, question_words: set[str]) -> dict:
    """A function doc with rewritten descriptions and shuffled parameter order; names and types unchanged.
    Words the question uses are kept, so a description and the question that matches it still share them."""
    keep = _values_named(function.get("parameters")) | question_words
    out = dict(function)
    out["description"] = rewrite_description(function.get("description", ""), rng, keep)
    if isinstance(function.get("parameters"), dict):
        out["parameters"] = _rewrite_schema(function["parameters"], rng, keep)
    return out


# Words that tie a sentence to the one before it ("it", "then", "also"...): a question with any of them after its
# first sentence keeps its order.
_REFERRING = frozenset((
    "it", "its", "this", "that", "these", "those", "them", "they", "their", "same", "also", "then", "after",
    "afterwards", "next", "finally", "lastly", "second", "secondly", "additionally", "moreover", "furthermore",
    "another", "other", "again", "he", "she", "his", "her", "him", "there", "both", "respectively", "above",
    "previous", "former", "latter", "first", "and", "but", "so",
))  # fmt: skip
_QUESTION_SENTENCE = re.compile(r"(?<=[a-z0-9]{2}[.?!])\s+(?=[A-Z])")  # not after `v.`, `C.J.`, `Mr.`
_ABBREVIATION = re.compile(r"\b(?:inc|ltd|co|corp|jr|sr|st|vs|etc|no|approx|dept|univ|ave|blvd)\.$", re.IGNORECASE)


def reorder_question(conversation: list[dict], rng: random.Random) -> list[dict]:
    """The one user message's sentences in a seeded order, when no later sentence refers back to an earlier one."""
    users = [i for i, m in enumerate(conversation) if m.get("role") == "user" and isinstance(m.get("content"), str)]
    if len(users) != 1:
        return conversation
    (index,) = users
    content = conversation[index]["content"]
    sentences = _QUESTION_SENTENCE.split(content.strip())
    if len(sentences) < 2 or set(_WORD.findall(" ".join(sentences[1:]).lower())) & _REFERRING:
        return conversation
    if any(s[:1] in "\"'" or s[-1:] in "\"'" or _ABBREVIATION.search(s) or len(s.split()) < 3 for s in sentences):
        return conversation  # quotes would end up mid-text; an abbreviation's full stop is no sentence end
    order = list(range(len(sentences)))
    rng.shuffle(order)
    out = [dict(m) for m in conversation]
    out[index]["content"] = " ".join(sentences[i] for i in order)
    return out
