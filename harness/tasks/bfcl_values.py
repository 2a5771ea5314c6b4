"""Re-sampling of the string values a BFCL question states (places, names, titles, enums, dates), in the question
and the answer key together.

A lookup miner finds a public entry by its words and copies the key's values; if only numbers change, every
stated string is still the key's. Here a string the question states literally, once, and that one answered
parameter takes, is replaced by another value of the same kind:

- an enum value by another value of the same enum that the question does not mention;
- a date by a shifted date, written in the question as it was written before (ISO, `March 5, 2023`, `03/05/2023`);
- any other string by a value that some other BFCL question states for a parameter of the same kind (the
  parameter's words, e.g. `city`, `artist_name`), with the same shape (commas, case, digits, about as many words).

Alternatives of the same parameter are carried over where their form is known (a leading part of a comma list,
another date format) and dropped otherwise; omission (`""`) stays allowed only when the new value is the default.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from harness.tasks.naming import words_of

ValuePool = Mapping[str, tuple[str, ...]]

MAX_WORDS = 6
MIN_CHOICES = 3
# Parameter words that say what kind of thing a value is, so a value stated for one `city` fits another `city`.
KIND_WORDS = frozenset((
    "location", "city", "country", "destination", "origin", "place", "region", "state", "town", "genre", "artist",
    "album", "cast", "starring", "director", "author", "actor", "company", "team", "league", "cuisine", "language",
    "color", "colour", "species", "substance", "topic", "airport", "currency", "game", "platform", "title",
    "brand", "category", "exchange", "sport", "instrument", "ingredient", "dish", "food", "restaurant", "hotel",
    "university", "element", "planet", "animal", "disease", "event", "channel", "religion", "nationality",
    "theater", "venue", "store", "movie", "song", "book",
))  # fmt: skip
_PLACEHOLDERS = frozenset({"dontcare", "any", "none", "all", "null", "n/a", "unknown", "other", "default"})
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%B %d, %Y", "%B %d %Y", "%d %B %Y", "%b %d, %Y", "%Y/%m/%d", "%m-%d-%Y")


def _text(conversation: list[dict]) -> str:
    return "\n".join(m["content"] for m in conversation if isinstance(m.get("content"), str))


def _occurrences(text: str, literal: str) -> list[re.Match[str]]:
    return list(re.finditer(rf"(?<![\w]){re.escape(literal)}(?![\w])", text, re.IGNORECASE))


def _kind_keys(param: str) -> list[str]:
    """Pool keys of a parameter: its whole name's words, then its last kind word."""
    words = words_of(param)
    keys = ["_".join(words)] if words else []
    kinds = [w for w in words if w in KIND_WORDS]
    if kinds:
        keys.append(f"kind:{kinds[-1]}")
    return keys


def _shape(value: str) -> tuple:
    case = "lower" if value == value.lower() else "upper" if value == value.upper() else "mixed"
    return value.count(","), case, any(c.isdigit() for c in value)


def _usable(value: str) -> bool:
    return bool(value.strip()) and "\n" not in value and len(value.split()) <= MAX_WORDS and len(value) <= 60


def value_pool(entries: list[dict]) -> dict[str, tuple[str, ...]]:
    """Kind key -> the sorted string values BFCL questions state literally for parameters of that kind."""
    pool: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        text = _text(entry["conversation"])
        for call in entry["answer"]:
            if not isinstance(call, dict) or len(call) != 1:
                continue
            args = next(iter(call.values()))
            if not isinstance(args, dict):
                continue
            for param, alternatives in args.items():
                for alt in alternatives if isinstance(alternatives, list) else []:
                    if isinstance(alt, str) and _usable(alt) and _occurrences(text, alt) and not _is_date(alt):
                        for key in _kind_keys(param):
                            pool[key].add(alt)
    return {key: tuple(sorted(values)) for key, values in sorted(pool.items())}


def _is_date(value: str) -> dt.date | None:
    for fmt in _DATE_FORMATS[:2]:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _date_forms(day: dt.date) -> list[tuple[str, str]]:
    forms = [(fmt, day.strftime(fmt)) for fmt in _DATE_FORMATS]
    forms += [("%B %-d, %Y", f"{day:%B} {day.day}, {day.year}"), ("%B %-d %Y", f"{day:%B} {day.day} {day.year}")]
    forms += [("%-d %B %Y", f"{day.day} {day:%B} {day.year}"), ("%b %-d, %Y", f"{day:%b} {day.day}, {day.year}")]
    forms += [("%b.%d,%Y", day.strftime("%b.%d,%Y")), ("%d/%m/%Y", day.strftime("%d/%m/%Y"))]
    return forms


def _write_date(day: dt.date, fmt: str) -> str:
    return {
        "%B %-d, %Y": f"{day:%B} {day.day}, {day.year}",
        "%B %-d %Y": f"{day:%B} {day.day} {day.year}",
        "%-d %B %Y": f"{day.day} {day:%B} {day.year}",
        "%b %-d, %Y": f"{day:%b} {day.day}, {day.year}",
    }.get(fmt) or day.strftime(fmt)


def _param_spec(functions: list[dict], name: str, param: str) -> dict:
    function = next((f for f in functions if f.get("name") == name), {})
    spec = ((function.get("parameters") or {}).get("properties") or {}).get(param)
    return spec if isinstance(spec, dict) else {}


def _string_uses(answer: list[dict]) -> dict[str, int]:
    """How many answered parameters name each string (case-folded), at any depth."""
    uses: dict[str, int] = defaultdict(int)

    def walk(value: Any, weight: int) -> None:
        if isinstance(value, str) and value:
            uses[value.lower()] += weight
        elif isinstance(value, list):
            for item in value:
                walk(item, weight)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, weight)

    for call in answer:
        for alternatives in next(iter(call.values())).values():
            for alt in alternatives:
                walk(alt, 1 if isinstance(alt, str) else 2)  # inside a list or dict: leave it alone
    return uses


def _stated(alternatives: list, text: str) -> str | None:
    """The longest string alternative the question states exactly once."""
    stated = [a for a in alternatives if isinstance(a, str) and _usable(a) and len(_occurrences(text, a)) == 1]
    return max(stated, key=len, default=None)


def _pick(options: list[str], rng: random.Random) -> str | None:
    return rng.choice(options) if len(options) >= MIN_CHOICES else None


def _new_string(
    stated: str, param: str, spec: dict, text: str, pool: ValuePool, rng: random.Random, taken: list[str]
) -> str | None:
    """A new value for `stated`, or None; never one that holds, or is held by, another value of the key (`New York`
    in `New York District`): the question would then seem to say that one."""
    new = _candidate(stated, param, spec, text, pool, rng)
    if new is None or any(_occurrences(new, t) or _occurrences(t, new) for t in taken if t.lower() != stated.lower()):
        return None
    return new


def _candidate(stated: str, param: str, spec: dict, text: str, pool: ValuePool, rng: random.Random) -> str | None:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        if stated not in enum:
            return None
        options = [
            e
            for e in enum
            if isinstance(e, str)
            and _usable(e)
            and e.lower() not in text.lower()
            and e != stated
            and e.lower() not in _PLACEHOLDERS
        ]
        return rng.choice(options) if options else None
    lowered = text.lower()
    if _opaque(stated):  # an id, code, path or handle: same characters' kinds, new characters
        for _ in range(5):
            new = _mutate(stated, rng)
            if new.lower() not in lowered:
                return new
        return None
    for key in _kind_keys(param):
        options = [
            v
            for v in pool.get(key, ())
            if v.lower() != stated.lower()
            and _shape(v) == _shape(stated)
            and abs(len(v.split()) - len(stated.split())) <= 2
            and v.lower() not in lowered
            and stated.lower() not in v.lower()
        ]
        choice = _pick(options, rng)
        if choice is not None:
            return choice
    return None


_OPAQUE = re.compile(r"[A-Za-z0-9][\w\-/.:]{2,39}")
_DATE_OR_TIME = re.compile(r"\d{1,4}[-/.\\]\d{1,2}[-/.\\]\d{1,4}|\d{1,2}:\d{2}|^v?\d+(?:\.\d+)+$|\d+\.\d+")


def _opaque(value: str) -> bool:
    """Spelled like an identifier rather than a word: `AB1010CD`, `cascade-sandbox`, `/Foo/Bar`, `L_5798`."""
    if not _OPAQUE.fullmatch(value.lstrip("/")) or "://" in value or _DATE_OR_TIME.search(value):
        return False  # a date, time or version keeps its meaning only if its digits stay in range
    return any(c.isdigit() for c in value) or any(c in "-_/." for c in value) or (value.isupper() and len(value) > 3)


def _mutate(value: str, rng: random.Random) -> str:
    """Each letter and digit replaced by a random one of its kind (case kept); punctuation kept."""
    lower, upper, digits = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
    out = []
    for char in value:
        pool = lower if char in lower else upper if char in upper else digits if char in digits else None
        out.append(rng.choice(pool) if pool else char)
    return "".join(out)


_PLACE_WORDS = frozenset((
    "location", "city", "country", "state", "region", "town", "province", "district", "area", "zip", "postal",
    "address", "timezone", "tz", "lat", "lon", "latitude", "longitude", "coordinates", "place", "loc",
))  # fmt: skip


def _place_derived(param: str, args: dict, text: str) -> bool:
    """Does another place parameter of the call hold a value the question does not state (`GB` for London)?
    Then it was derived from this one, and a new city would contradict it."""
    if not _PLACE_WORDS & set(words_of(param)):
        return False
    for other, alternatives in args.items():
        if other == param or not _PLACE_WORDS & set(words_of(other)):
            continue
        real = [a for a in alternatives if a != "" and a is not None]
        if real and not any(isinstance(a, str) and _occurrences(text, a) for a in real):
            return True
    return False


def _same_case(like: str, value: str) -> str:
    if like.islower():
        return value.lower()
    if like.isupper():
        return value.upper()
    return value


def _carry(alternatives: list, stated: str, new: str, spec: dict) -> list | None:
    """The parameter's alternatives for `new`, each written as its old one was (another case, a run of the comma
    parts: `Palo Alto` or `CA` of `Palo Alto, CA`); None when one cannot be carried over (`USD` for `US dollars`),
    since dropping it would refuse an answer the old key accepted."""
    old_parts = [p.strip().lower() for p in stated.split(",")]
    new_parts = [p.strip() for p in new.split(",")]
    out = [new]
    for alt in alternatives:
        if alt == "" or alt == stated:
            continue
        if not isinstance(alt, str):
            return None
        parts = [p.strip() for p in alt.split(",")]
        lowered = [p.lower() for p in parts]
        start = next(
            (k for k in range(len(old_parts)) if old_parts[k : k + len(parts)] == lowered),
            None,
        )
        if start is None or len(old_parts) != len(new_parts):
            return None
        carried = ", ".join(_same_case(o, n) for o, n in zip(parts, new_parts[start : start + len(parts)], strict=True))
        if carried not in out:
            out.append(carried)
    if "" in alternatives and spec.get("default") == new:
        out.append("")
    return out


def _resample_date(stated: str, alternatives: list, text: str, rng: random.Random):
    """(text span, new text span, new alternatives) for a date the question states in some format, or None."""
    day = _is_date(stated)
    if day is None:
        return None
    said = [(fmt, form) for fmt, form in _date_forms(day) if len(_occurrences(text, form)) == 1]
    if not said:
        return None
    fmt, form = max(said, key=lambda f: len(f[1]))
    try:
        new_day = day + dt.timedelta(days=rng.choice([d for d in range(-120, 121) if d]))
    except OverflowError:
        return None
    new_alternatives = []
    for alt in alternatives:
        if alt == "":
            continue
        alt_fmt = next((f for f, shown in _date_forms(day) if shown == alt), None)
        if alt_fmt is None:
            return None  # a form we cannot write for the new date: keep the old one rather than refuse it
        new_alternatives.append(_write_date(new_day, alt_fmt))
    return form, _write_date(new_day, fmt), new_alternatives


def resample_strings(
    functions: list[dict], conversation: list[dict], answer: list[dict], rng: random.Random, pool: ValuePool
) -> tuple[list[dict], list[dict], int]:
    """(conversation, answer, how many values changed); the inputs are not modified."""
    import copy

    conversation = copy.deepcopy(conversation)
    answer = copy.deepcopy(answer)
    uses = _string_uses(answer)
    before = _text(conversation)  # a new value is never one the question said before (it would read as the old)
    taken = sorted({a for a in _all_strings(answer) if len(a) > 1})
    said_numbers = set(_NUMBER.findall(before)) | {_number_text(n) for n in _answer_numbers(answer)}
    changed = 0
    for call in answer:
        ((name, args),) = call.items()
        for param, alternatives in args.items():
            text = _text(conversation)
            stated = _stated(alternatives, before) or next(
                (a for a in alternatives if isinstance(a, str) and _is_date(a)), None
            )
            if stated is None or len(_occurrences(text, stated)) > 1:
                continue
            # the calls that take this very value (`celsius` for both cities): all change together, or none
            sharing = [(n, a, p) for c in answer for n, a in c.items() for p, alts in a.items() if alts == alternatives]
            specs = [_param_spec(functions, n, p) for n, _a, p in sharing]
            if uses.get(stated.lower(), 0) != len(sharing) or any(s != specs[0] for s in specs):
                continue
            if any(
                isinstance(a, str) and a and a.lower() != stated.lower() and stated.lower() in a.lower()
                for c in answer
                for other in next(iter(c.values())).values()
                for a in other
                if other != alternatives
            ):
                continue  # said inside another answered value too: changing one would contradict it
            if _place_derived(param, args, before):
                continue
            spec = _param_spec(functions, name, param)
            dated = _resample_date(stated, alternatives, text, rng) if _is_date(stated) else None
            if dated is not None:
                span, new_span, new_alternatives = dated
            elif _is_date(stated) or not _occurrences(text, stated):
                continue
            else:
                new = _new_string(stated, param, spec, f"{before}\n{text}", pool, rng, taken)
                if new is None:
                    continue
                carried = _carry(alternatives, stated, new, spec)
                if carried is None:
                    continue
                span, new_span, new_alternatives = stated, new, carried
            if _NUMBER.search(new_span) and (set(_NUMBER.findall(new_span)) & said_numbers):
                continue  # a number the question or the key already has would read as that one
            replaced = _replace_once(conversation, span, new_span)
            if any(
                isinstance(a, str) and a and a.lower() not in new_span.lower() and _occurrences(_text(replaced), a)
                for a in alternatives
            ):
                continue  # the question says the old value another way too ("Canis lupus familiaris (Dog)")
            conversation = replaced
            for _name, shared_args, shared_param in sharing:
                shared_args[shared_param] = list(new_alternatives)
            changed += len(sharing)
    return conversation, answer, changed


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _all_strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _all_strings(item)]
    return []


def _answer_numbers(answer: list[dict]) -> list[float]:
    out: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            out.append(float(value))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for call in answer:
        walk(list(next(iter(call.values())).values()))
    return out


def _replace_once(conversation: list[dict], old: str, new: str) -> list[dict]:
    pattern = re.compile(rf"(?<![\w]){re.escape(old)}(?![\w])", re.IGNORECASE)
    out = []
    for message in conversation:
        message = dict(message)
        if isinstance(message.get("content"), str):
            message["content"] = pattern.sub(lambda _m: new, message["content"])
        out.append(message)
    return out
