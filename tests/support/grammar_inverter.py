"""A grammar inverter: answers a generated tool-call task from its text alone, with no language model.

Issue 20's second attack, written as a miner who read `harness/tasks/toolcall_gen.py` and `toolcall_library.py`
would write it. Every piece of the request grammar is public, so every piece is inverted exactly rather than
guessed at:

1. the text is cut into sentences; a sentence that fits one of the generator's decoy templates (`_CONTEXT`) is
   dropped, "My <role> is <person>." notes are kept for coreference, correction sentences are attached to the
   request before them;
2. each remaining sentence is matched against every opener template (`_OPENERS`, `_PASSIVE_OPENERS`, rebuilt
   into regular expressions by formatting the generator's own templates with markers and normalising them the
   way `_request` does); the verb (or participle) names the operation and the noun the object, so an operation
   or object the offered functions lack is an irrelevance request and gets no call;
3. the argument list is parsed by a search over the function's own attributes: each attribute's phrase
   templates (`Attribute.phrases`, `yes_no`) wrapped around an exact grammar of every surface form its value
   kind can take (`Kind.say` and the `_REASONED` forms: number words, sums, fees, relative dates and times, unit
   conversions, capitals, surname-first names, enum synonyms, in-place corrections), joined by the generator's
   glue; a parse must use each attribute at most once and state every required one;
4. each surface form is converted back to the canonical value the schema asks for.

`invert(task) -> answer text` has the shape of the strategies in tests/support/adversaries.py. It reads only
what a model sees: the offered functions and the user's message.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from harness.tasks import toolcall_gen as gen
from harness.tasks.toolcall_library import (
    CAPITALS,
    CITIES,
    ENUM_WORDS,
    FUNCTIONS,
    MONTHS,
    OBJECTS,
    OPERATIONS,
    PEOPLE,
    PRODUCTS,
    TAGS,
    Attribute,
    attributes_of,
    function_name,
    number_word,
    plural,
)

# --------------------------------------------------------------------------------------------- value grammar


def _alt(surfaces: Iterable[str]) -> str:
    """A regex alternation of literal surfaces, longest first (so a prefix never shadows a longer form)."""
    return "(?:" + "|".join(re.escape(s) for s in sorted(set(surfaces), key=lambda s: (-len(s), s))) + ")"


_WORD_NUMBER = {number_word(i): i for i in range(100)}
_NUMW = _alt(_WORD_NUMBER)
_LIST_GLUE = r"(?:, | and | as well as )"
_MONTH = _alt(MONTHS)
_DATE_PLAIN = (
    rf"(?:\d{{4}}-\d\d-\d\d|{_MONTH} \d{{1,2}}, \d{{4}}|\d{{1,2}} {_MONTH} \d{{4}}"
    rf"|the \d{{1,2}}(?:st|nd|rd|th) of {_MONTH} \d{{4}}|{_MONTH} \d{{1,2}}(?:st|nd|rd|th) \d{{4}}|\d\d\.\d\d\.\d{{4}})"
)
_DATE_SHIFTS = {"the day after": 1, "two days after": 2, "a week after": 7, "the day before": -1,
                "a week before": -7, "two weeks after": 14}  # fmt: skip
_TIME_PLAIN = (
    r"(?:\d\d:\d\d|\d{1,2}:\d\d (?:am|pm)|\d{1,2}:\d\d(?:AM|PM)|\d{1,2} o'clock in the (?:morning|afternoon|evening)"
    rf"|half past {_NUMW} (?:in the morning|pm))"
)
_TIME_SHIFTS = {"half an hour after": 30, "an hour after": 60, "half an hour before": -30, "an hour before": -60,
                "an hour and a half after": 90}  # fmt: skip
_FRACTIONS = {"half": 50, "a quarter": 25, "three quarters": 75, "a tenth": 10, "a fifth": 20, "a twentieth": 5}
_METRIC_WORDS = {"half a {}": 0.5, "three quarters of a {}": 0.75, "a quarter of a {}": 0.25, "a {} and a half": 1.5,
                 "two and a half {}s": 2.5}  # fmt: skip
_DOMAIN = r"(?:example\.com|example\.org|mail\.test)"
_EMAIL = rf"[a-z]+\.[a-z]+@{_DOMAIN}"
_NAME = r"[A-Z][a-z]+ [A-Z][a-z]+"
_PRODUCT_OF = {p: p for p in PRODUCTS} | {plural(p): p for p in PRODUCTS}
_QTY = rf"(?:\d+|{_NUMW}|a dozen)"
_FLOAT = r"\d+(?:\.\d+)?"

_PERSON_OF: dict[str, str] = {}
for _person in PEOPLE:
    _first, _last = _person.split()
    _PERSON_OF |= {
        _person: _person,
        f"{_last}, {_first} (surname first)": _person,
        f"{_first} (surname {_last})": _person,
    }
_CITY_OF = {c: c for c in CITIES} | {f"the capital of {country}": city for city, country in CAPITALS.items()}

_VALUE: dict[str, str] = {
    "person": _alt(_PERSON_OF) + f"|my {_alt(gen._ROLES)}",
    "email": _EMAIL,
    "emails": rf"{_EMAIL}(?:{_LIST_GLUE}{_EMAIL})*"
    rf"|{_NAME} \(at {_DOMAIN}\)(?:{_LIST_GLUE}{_NAME} \(at {_DOMAIN}\))*, each as firstname\.lastname",
    "city": _alt(_CITY_OF),
    "title": r'"[A-Z][a-z]+ [A-Z][a-z]+"',
    "code": r"[A-HJ-NP-Z2-9]{6,9}",
    "tags": rf"{_alt(TAGS)}(?:{_LIST_GLUE}{_alt(TAGS)})*",
    "count": rf"one more than {_NUMW}|twice {_NUMW}|{_NUMW} plus {_NUMW}|\d+ plus another \d+|\d+|{_NUMW}"
    r"|a dozen|two dozen",
    "money": r"\$[\d,]+(?:\.\d\d)?(?: plus \$[\d,]+(?:\.\d\d)? in fees)?|[\d,]+(?:\.\d\d)? (?:dollars|USD)"
    r"|USD [\d,]+(?:\.\d\d)?",
    "percent": rf"{_FLOAT}(?:%| percent| per cent)|{_alt(_FRACTIONS)}",
    "date": rf"(?:{_alt(_DATE_SHIFTS)} )?{_DATE_PLAIN}",
    "time": rf"(?:{_alt(_TIME_SHIFTS)} )?{_TIME_PLAIN}",
    "minutes": rf"(?:\d+|{_NUMW}) minutes|(?:\d+|{_NUMW}) hours?|{_FLOAT} hours|\d+ and a half hours"
    rf"|(?:three quarters|a quarter) of an hour|{_NUMW} hours? and {_NUMW} minutes"
    r"|\d+ minutes plus a quarter of an hour",
    "kilograms": rf"[\d,]+ grams|{_FLOAT} kg|{_alt(w.format('kilo') for w in _METRIC_WORDS)}",
    "kilometers": rf"[\d,]+ meters|{_FLOAT} km|{_alt(w.format('kilometre') for w in _METRIC_WORDS)}",
    "readings": rf"{_FLOAT}(?:{_LIST_GLUE}{_FLOAT})+",
    "address": rf"\d+ [A-Z][a-z]+ (?:Street|Road|Lane), {_alt(CITIES)} \d{{5}}",
    "size": r"\d+ by \d+ pixels|\d+x\d+|\d+ pixels wide and \d+ tall",
    "line_items": rf"{_QTY} x {_alt(PRODUCTS)}(?:{_LIST_GLUE}{_QTY} x {_alt(PRODUCTS)})*"
    rf"|{_NUMW} {_alt(_PRODUCT_OF)}(?:{_LIST_GLUE}{_NUMW} {_alt(_PRODUCT_OF)})*",
}


def _number(text: str) -> float:
    text = text.strip()
    if text in _WORD_NUMBER:
        return float(_WORD_NUMBER[text])
    return {"a dozen": 12.0, "two dozen": 24.0}.get(text) or float(text.replace(",", ""))


def _count(text: str) -> int:
    if m := re.fullmatch(r"one more than (.+)", text):
        return int(_number(m[1])) + 1
    if m := re.fullmatch(r"twice (.+)", text):
        return 2 * int(_number(m[1]))
    if m := re.fullmatch(r"(.+?) plus (?:another )?(.+)", text):
        return int(_number(m[1]) + _number(m[2]))
    return int(_number(text))


def _date(text: str) -> str:
    for span, days in _DATE_SHIFTS.items():
        if text.startswith(span + " "):
            return (dt.date.fromisoformat(_date(text[len(span) + 1 :])) + dt.timedelta(days=days)).isoformat()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return text
    if m := re.fullmatch(r"(\d\d)\.(\d\d)\.(\d{4})", text):
        return f"{m[3]}-{m[2]}-{m[1]}"
    month = next(i for i, name in enumerate(MONTHS, 1) if re.search(rf"\b{name}\b", text))
    day, year = re.fullmatch(r"\D*?(\d{1,2})\D+(\d{4})", text).groups()
    return f"{year}-{month:02d}-{int(day):02d}"


def _time(text: str) -> str:
    for span, shift in _TIME_SHIFTS.items():
        if text.startswith(span + " "):
            hour, minute = map(int, _time(text[len(span) + 1 :]).split(":"))
            total = hour * 60 + minute + shift
            return f"{total // 60:02d}:{total % 60:02d}"
    if re.fullmatch(r"\d\d:\d\d", text):
        return text
    if m := re.fullmatch(r"(\d{1,2}):(\d\d) ?(am|pm|AM|PM)", text):
        return f"{int(m[1]) % 12 + (12 if m[3].lower() == 'pm' else 0):02d}:{m[2]}"
    if m := re.fullmatch(r"(\d{1,2}) o'clock in the (\w+)", text):
        return f"{int(m[1]) % 12 + (0 if m[2] == 'morning' else 12):02d}:00"
    m = re.fullmatch(r"half past (.+) (in the morning|pm)", text)
    return f"{int(_number(m[1])) % 12 + (12 if m[2] == 'pm' else 0):02d}:30"


def _minutes(text: str) -> int:
    if m := re.fullmatch(r"(.+) hours? and (.+) minutes", text):
        return int(_number(m[1])) * 60 + int(_number(m[2]))
    if m := re.fullmatch(r"(\d+) minutes plus a quarter of an hour", text):
        return int(m[1]) + 15
    if text.endswith("of an hour"):
        return 45 if text.startswith("three") else 15
    if m := re.fullmatch(r"(\d+) and a half hours", text):
        return int(m[1]) * 60 + 30
    amount, unit = text.rsplit(" ", 1)
    return round(_number(amount) * (60 if unit.startswith("hour") else 1))


def _metric(text: str) -> float:
    for words, value in _METRIC_WORDS.items():
        if re.fullmatch(words.format(r"kilo(?:metre)?"), text):
            return value
    amount, unit = text.split(" ")
    return int(amount.replace(",", "")) / 1000 if unit in ("grams", "meters") else float(amount)


def _emails(text: str) -> list[str]:
    if text.endswith(", each as firstname.lastname"):
        people = re.findall(rf"([A-Z][a-z]+) ([A-Z][a-z]+) \(at ({_DOMAIN})\)", text)
        return [f"{first.lower()}.{last.lower()}@{domain}" for first, last, domain in people]
    return re.findall(_EMAIL, text)


def _line_items(text: str) -> list[dict]:
    plain = re.findall(rf"({_QTY}) x ({_alt(PRODUCTS)})", text)
    if plain:
        return [{"product": p, "quantity": int(_number(q))} for q, p in plain]
    said = re.findall(rf"({_NUMW}) ({_alt(_PRODUCT_OF)})(?={_LIST_GLUE}|$)", text)
    return [{"product": _PRODUCT_OF[p], "quantity": int(_number(q))} for q, p in said]


_PARSE: dict[str, Callable[[str], Any]] = {
    "person": lambda t: _PERSON_OF[t],
    "email": lambda t: t,
    "emails": _emails,
    "city": lambda t: _CITY_OF[t],
    "title": lambda t: t.strip('"'),
    "code": lambda t: t,
    "tags": lambda t: re.split(_LIST_GLUE, t),
    "count": _count,
    "money": lambda t: round(sum(float(x.replace(",", "")) for x in re.findall(r"[\d,]*\d(?:\.\d\d)?", t)), 2),
    "percent": lambda t: (_FRACTIONS[t] if t in _FRACTIONS else float(re.match(_FLOAT, t)[0])) / 100,
    "date": _date,
    "time": _time,
    "minutes": _minutes,
    "kilograms": _metric,
    "kilometers": _metric,
    "readings": lambda t: [float(x) for x in re.split(_LIST_GLUE, t)],
    "address": lambda t: dict(
        zip(("street", "city", "postal_code"), re.fullmatch(r"(.+), (.+) (\d{5})", t).groups(), strict=True)
    ),
    "size": lambda t: dict(zip(("width", "height"), map(int, re.findall(r"\d+", t)), strict=True)),
    "line_items": _line_items,
}

# ---------------------------------------------------------------------------------------- phrase grammar

_FIXES = r" \((?:no, sorry, |I mean |or rather |scratch that, )"
_PHRASE_GLUE = (", and ", ", ", "; ", " and ", " ")


@functools.cache
def _enum_surfaces(values: tuple[str, ...]) -> dict[str, str]:
    """Every way the generator says a value of this enum, mapped back to the value."""
    return {said: v for v in values for said in (v.replace("_", " "), *ENUM_WORDS.get(v, ()))}


def _value_regex(attribute: Attribute) -> str:
    kind = attribute.kind_of()
    return _alt(_enum_surfaces(kind.enum)) if kind.enum else _VALUE[kind.name]


def _convert(attribute: Attribute, text: str, roles: dict[str, str]) -> Any:
    kind = attribute.kind_of()
    if kind.enum:
        return _enum_surfaces(kind.enum)[text]
    if kind.name == "person" and text.startswith("my "):
        return roles[text[3:]]
    return _PARSE[kind.name](text)


@functools.cache
def _phrase_patterns(attribute: Attribute) -> tuple[tuple[str, re.Pattern[str] | None, Any], ...]:
    """(literal head, pattern, flag value) per way the attribute is phrased; a flag's phrases are literals."""
    if attribute.yes_no is not None:
        return tuple(
            (said, None, flag) for flag, forms in zip((True, False), attribute.yes_no, strict=True) for said in forms
        )
    value = _value_regex(attribute)
    out = []
    for phrase in attribute.phrases:
        head, _, tail = phrase.partition("{}")
        pattern = re.compile(f"{re.escape(head)}(?P<v>{value}){re.escape(tail)}(?:{_FIXES}(?P<fix>{value})\\))?")
        out.append((head, pattern, None))
    return tuple(out)


def parse_arguments(text: str, attributes: tuple[Attribute, ...], roles: dict[str, str]) -> dict | None:
    """The arguments a phrase list states: every attribute at most once, every required one present."""
    ends = sorted({j for j, c in enumerate(text) if c in " ,;"} | {len(text)})
    required = frozenset(a.name for a in attributes if a.required)

    @functools.cache
    def solve(i: int, used: frozenset[str]) -> tuple[tuple[str, Any], ...] | None:
        if i == len(text):
            return () if required <= used else None
        for attribute in attributes:
            if attribute.name in used:
                continue
            for head, pattern, flag in _phrase_patterns(attribute):
                if not text.startswith(head, i):
                    continue
                spans = [(i + len(head), flag)] if pattern is None else []
                for j in ends if pattern is not None else ():
                    if j > i and (m := pattern.fullmatch(text, i, j)):
                        try:
                            spans.append((j, _convert(attribute, m["fix"] or m["v"], roles)))
                        except (KeyError, ValueError, TypeError, AttributeError, StopIteration):
                            continue
                for j, value in spans:
                    nexts = [j] if j == len(text) else [j + len(g) for g in _PHRASE_GLUE if text.startswith(g, j)]
                    for k in nexts:
                        rest = solve(k, used | {attribute.name})
                        if rest is not None:
                            return ((attribute.name, value), *rest)
        return None

    found = solve(0, frozenset())
    return None if found is None else dict(found)


# --------------------------------------------------------------------------------------- sentence grammar

_VERB_OF = {verb: op for op in OPERATIONS for verb in op.verbs}
_PART_OF = {op.participle: op for op in OPERATIONS if op.participle}
_NOUN_OF = {noun: obj for obj in OBJECTS for noun in obj.nouns}
_BY_NAME = {function_name(op, obj): (op, obj) for op, obj in FUNCTIONS}
_MARKS = {"verb": "\x01", "art": "\x02", "noun": "\x03", "args": "\x04", "lead": "\x05", "part": "\x06"}
_GROUPS = {
    "\x01": f"(?P<verb>{_alt(_VERB_OF)})",
    "\x02": "(?:a|an|the)",
    "\x03": f"(?P<noun>{_alt(_NOUN_OF)})",
    "\x04": "(?P<args>.+)",
    "\x06": f"(?P<part>{_alt(_PART_OF)})",
}


def _normalise(text: str) -> str:
    """What `_request` does to a formatted template, then the first letter in lower case (a connector may
    have lowered it)."""
    text = " ".join(text.split()).replace(" .", ".").replace(" ?", "?").replace(" :", ":")
    return text[:1].lower() + text[1:]


def _regex(template: str, args: bool) -> re.Pattern[str]:
    marked = _normalise(template.format(**{k: v if k != "args" or args else "" for k, v in _MARKS.items()}))
    return re.compile("".join(_GROUPS.get(c, re.escape(c)) for c in marked))


@functools.cache
def _openers() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    """(has a lead phrase, pattern of what follows the lead) for every opener, with and without arguments."""
    templates = [*gen._OPENERS, *gen._PASSIVE_OPENERS, "{verb} {art} {noun} {args}."]
    out = []
    for template in templates:
        lead = template.startswith("{lead}, ")
        body = template.removeprefix("{lead}, ")
        out += [(lead, _regex(body, True)), (lead, _regex(body, False))]
    return tuple(out)


@functools.cache
def _decoys() -> tuple[re.Pattern[str], ...]:
    fields = ("verb", "part", "art", "noun", "phrase", "said", "person", "city", "word")
    out = []
    for template in gen._CONTEXT:
        marked = template.format(**dict.fromkeys(fields, "\x00"))
        marked = marked[:1].upper() + marked[1:]
        out.append(re.compile("".join(".+?" if c == "\x00" else re.escape(c) for c in marked)))
    return tuple(out)


_CORRECTIONS = (
    "Actually, make the {label} {said} instead.",
    "Sorry, correction: the {label} should be {said}.",
    "Wait, not that {label}; use {said}.",
)
_ROLE_NOTE = re.compile(rf"My ({'|'.join(gen._ROLES)}) is ({_alt(PEOPLE)})\.")
_CONNECTORS = tuple(sorted(gen._CONNECTORS, key=len, reverse=True))


def _request(sentence: str, roles: dict[str, str]) -> tuple[str, dict, tuple[Attribute, ...]] | None:
    """(function name, arguments, its attributes) of one request sentence, or None when it is none."""
    for connector in _CONNECTORS:
        if sentence.startswith(connector):
            sentence = sentence[len(connector) :]
            break
    sentence = sentence[:1].lower() + sentence[1:]
    for lead, pattern in _openers():
        splits = [(sentence[:k], sentence[k + 2 :]) for k in _commas(sentence)] if lead else [("", sentence)]
        for head, rest in splits:
            m = pattern.fullmatch(rest)
            if m is None:
                continue
            groups = m.groupdict()
            operation = _VERB_OF[groups["verb"]] if groups.get("verb") else _PART_OF[groups["part"]]
            obj = _NOUN_OF[groups["noun"]]
            attributes = attributes_of(operation, obj)
            args_text = ", ".join(t for t in (head, groups.get("args") or "") if t)
            args = parse_arguments(args_text, attributes, roles) if args_text else {}
            if args is not None:
                return function_name(operation, obj), args, attributes
    return None


def _commas(text: str) -> list[int]:
    return [m.start() for m in re.finditer(", ", text)]


def _correct(sentence: str, call: tuple[str, dict, tuple[Attribute, ...]], roles: dict[str, str]) -> bool:
    """Applies a correction sentence ("Actually, make the <label> <value> instead.") to the request before it."""
    if not sentence.startswith(("Actually, make the ", "Sorry, correction: ", "Wait, not that ")):
        return False
    for attribute in call[2]:
        label = re.escape(attribute.description.split(".")[0].lower())
        for form in _CORRECTIONS:
            pattern = re.escape(form).replace(re.escape("{label}"), label).replace(re.escape("{said}"), "(.+)")
            if (m := re.fullmatch(pattern, sentence)) and re.fullmatch(_value_regex(attribute), m[1]):
                call[1][attribute.name] = _convert(attribute, m[1], roles)
                return True
    return True


def invert_calls(task: dict) -> list[dict]:
    """The calls the generated request asks for, among the offered functions (none for an irrelevance task)."""
    text = next(m["content"] for m in reversed(task["messages"]) if m["role"] == "user")
    offered = {f["name"] for f in task["functions"]}
    sentences = re.split(r"(?<=[.?])\s+", text.strip())
    roles = {m[1]: m[2] for s in sentences if (m := _ROLE_NOTE.fullmatch(s))}
    calls: list[tuple[str, dict, tuple[Attribute, ...]]] = []
    last: tuple[str, dict, tuple[Attribute, ...]] | None = None
    for sentence in sentences:
        if last is not None and _correct(sentence, last, roles):
            continue
        last = None
        if _ROLE_NOTE.fullmatch(sentence) or any(p.fullmatch(sentence) for p in _decoys()):
            continue
        request = _request(sentence, roles)
        if request is not None and request[0] in offered:
            calls.append(request)
            last = request
    return [{"name": name, "arguments": args} for name, args, _ in calls]


def invert(task: dict) -> str:
    """The inverter's answer text: a JSON list of calls (`[]` when nothing offered is asked for)."""
    return json.dumps(invert_calls(task))


def knows(task: dict) -> bool:
    """Whether every offered function is one of the generator's (how a miner routes a task to this inverter)."""
    return bool(task["functions"]) and all(f.get("name") in _BY_NAME for f in task["functions"])
