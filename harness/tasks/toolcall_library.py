"""The domain vocabulary behind generated tool-call tasks: value kinds, business objects and operations.

A function is an (operation, object) pair: `cancel_invoice`, `export_shipment`. Its parameters are the object's
attributes plus the operation's own, so a few dozen objects and a dozen operations compose hundreds of
functions with strings, enums, integers, floats, booleans, dates, arrays, nested objects and arrays of
objects. Every value kind knows several surface forms (`12`, `twelve`, `a dozen`; `2026-03-05`, `March 5,
2026`, `the 5th of March 2026`; `1.5 hours` for a parameter in minutes), and the canonical value the schema
asks for, which is what the ground truth accepts. Schemas are in BFCL's dialect (`type: dict`, `float`).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd", 21: "21st", 22: "22nd", 23: "23rd", 31: "31st"}


def number_word(n: int) -> str:
    """English words for 0-99 (digits beyond)."""
    if 0 <= n < 20:
        return _NUMBER_WORDS[n]
    if 20 <= n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else "-" + _NUMBER_WORDS[ones])
    return str(n)


def ordinal(n: int) -> str:
    return _ORDINAL.get(n, f"{n}th")


def plural(noun: str) -> str:
    return noun if noun.endswith("s") else noun + ("es" if noun.endswith(("x", "h")) else "s")


def join_words(items: list[str], rng: random.Random | None = None) -> str:
    if len(items) == 1:
        return items[0]
    last = " and " if rng is None or rng.random() < 0.7 else " as well as "
    return ", ".join(items[:-1]) + last + items[-1]


@dataclass(frozen=True)
class Kind:
    """A kind of value: its schema, how to sample it, how a person might say it, what the answer accepts."""

    name: str
    type: str
    unit_note: str = ""
    enum: tuple[str, ...] | None = None
    pool: tuple[Any, ...] = ()
    items: str | None = None
    properties: tuple[tuple[str, str, str], ...] = ()
    """Nested fields of a dict or of each dict in an array: (name, kind name, description)."""

    def schema(self, description: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": description + self.unit_note}
        if self.enum:
            out["enum"] = list(self.enum)
        if self.items:
            out["items"] = {"type": self.items}
        if self.properties and self.type == "dict":
            out["properties"] = {n: {"type": KINDS[k].type, "description": d} for n, k, d in self.properties}
            out["required"] = [n for n, _, _ in self.properties]
        if self.properties and self.type == "array":
            out["items"] = {
                "type": "dict",
                "properties": {n: {"type": KINDS[k].type, "description": d} for n, k, d in self.properties},
            }
        return out

    def sample(self, rng: random.Random) -> Any:
        return _SAMPLERS[self.name](self, rng)

    def say(self, value: Any, rng: random.Random) -> str:
        """A surface form of `value`; most of the time (`REASONED_SHARE`) one that takes a step of reasoning to
        normalise (arithmetic, a synonym, a unit, a relative date, a name written surname first)."""
        reasoned = _REASONED.get(self.name)
        if reasoned is not None and rng.random() < REASONED_SHARE:
            said = reasoned(self, value, rng)
            if said is not None:
                return said
        return _SAYERS.get(self.name, _say_plain)(self, value, rng)

    def accepted(self, value: Any) -> list:
        if self.type == "dict":
            return [{k: [v] for k, v in value.items()}]
        if self.type == "array" and self.properties:  # a product said in the plural may be named so
            return [[{k: [v, plural(v)] if k == "product" else [v] for k, v in item.items()} for item in value]]
        return [value]


PEOPLE = (
    "Amara Okafor", "Bruno Silva", "Chen Wei", "Dana Kowalski", "Elif Demir", "Farah Haddad", "Goran Petrov",
    "Hana Sato", "Ivan Novak", "Jonas Berg", "Kavya Rao", "Lucia Romero", "Mateo Cruz", "Nadia Ivanova",
    "Omar Farouk", "Priya Nair", "Quinn Murphy", "Rosa Mendes", "Sven Larsen", "Tariq Aziz", "Uma Patel",
    "Viktor Horvat", "Wen Li", "Yara Costa", "Zoe Laurent",
)  # fmt: skip
CITIES = (
    "Lisbon", "Nairobi", "Osaka", "Quito", "Tallinn", "Accra", "Hobart", "Porto", "Tromso", "Cusco", "Leipzig",
    "Bergen", "Cebu", "Dakar", "Fukuoka", "Ghent", "Krakow", "Lyon", "Medellin", "Perth", "Seville", "Turin",
)  # fmt: skip
WORDS = (
    "amber", "harbor", "maple", "quartz", "summit", "cedar", "lagoon", "falcon", "meadow", "orbit", "willow",
    "ember", "canyon", "pixel", "sierra", "tundra", "delta", "nova", "glacier", "juniper", "cobalt", "sparrow",
)  # fmt: skip
PRODUCTS = (
    "desk lamp", "notebook", "usb cable", "coffee beans", "yoga mat", "water bottle", "headphones", "backpack",
    "printer paper", "sticky notes", "monitor stand", "keyboard", "tea kettle", "plant pot", "extension cord",
)  # fmt: skip
TAGS = ("urgent", "internal", "draft", "q3", "client", "legal", "archive", "review", "travel", "hr", "finance")


def _email(rng: random.Random) -> str:
    first, last = rng.choice(PEOPLE).lower().split()
    return f"{first}.{last}@{rng.choice(('example.com', 'example.org', 'mail.test'))}"


def _iso(rng: random.Random) -> str:
    return f"{rng.randint(2025, 2028)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _code(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(rng.randint(6, 9)))


def _money(rng: random.Random) -> float:
    return round(rng.randint(500, 900000) / 100 if rng.random() < 0.6 else rng.randint(5, 5000) * 1.0, 2)


def _floats(rng: random.Random) -> list[float]:
    return [rng.randint(10, 999) / rng.choice((10, 100, 4)) for _ in range(rng.randint(2, 5))]


_SAMPLERS: dict[str, Any] = {
    "person": lambda k, rng: rng.choice(PEOPLE),
    "email": lambda k, rng: _email(rng),
    "emails": lambda k, rng: sorted({_email(rng) for _ in range(rng.randint(1, 3))}),
    "city": lambda k, rng: rng.choice(CITIES),
    "title": lambda k, rng: " ".join(rng.sample(WORDS, 2)).title(),
    "code": lambda k, rng: _code(rng),
    "tags": lambda k, rng: rng.sample(TAGS, rng.randint(1, 3)),
    "count": lambda k, rng: rng.choice((rng.randint(1, 19), rng.randint(2, 12), 12, 24, rng.randint(20, 99))),
    "money": lambda k, rng: _money(rng),
    "percent": lambda k, rng: rng.choice((5, 10, 12.5, 15, 20, 25, 30, 40, 50, 7.5, 2.5, 75)) / 100,
    "date": lambda k, rng: _iso(rng),
    "time": lambda k, rng: f"{rng.randint(6, 21):02d}:{rng.choice((0, 15, 30, 45)):02d}",
    "minutes": lambda k, rng: rng.choice((15, 30, 45, 60, 90, 120, 150, 180, 240, 20, 75)),
    "kilograms": lambda k, rng: rng.choice((250, 500, 750, 1500, 2000, 2500, 3250, 12000)) / 1000,
    "kilometers": lambda k, rng: rng.choice((500, 800, 1200, 2500, 4000, 7500, 15000)) / 1000,
    "enum": lambda k, rng: rng.choice(k.enum),
    "flag": lambda k, rng: rng.random() < 0.5,
    "readings": lambda k, rng: _floats(rng),
    "address": lambda k, rng: {
        "street": f"{rng.randint(1, 240)} {rng.choice(WORDS).title()} {rng.choice(('Street', 'Road', 'Lane'))}",
        "city": rng.choice(CITIES),
        "postal_code": f"{rng.randint(10000, 99999)}",
    },
    "size": lambda k, rng: {"width": rng.choice((320, 640, 800, 1024, 1280)), "height": rng.choice((240, 480, 600))},
    "line_items": lambda k, rng: [
        {"product": p, "quantity": rng.randint(1, 12)} for p in rng.sample(PRODUCTS, rng.randint(1, 3))
    ],
}


def _say_plain(kind: Kind, value: Any, rng: random.Random) -> str:
    return str(value)


def _say_count(kind: Kind, value: int, rng: random.Random) -> str:
    forms = [str(value), number_word(value)]
    if value == 12:
        forms.append("a dozen")
    if value == 24:
        forms.append("two dozen")
    return rng.choice(forms)


def _say_money(kind: Kind, value: float, rng: random.Random) -> str:
    whole = value.is_integer()
    text = f"{int(value):,}" if whole and rng.random() < 0.5 else (f"{value:,.2f}" if not whole else str(int(value)))
    return rng.choice((f"${text}", f"{text} dollars", f"USD {text}", f"{text} USD"))


def _say_percent(kind: Kind, value: float, rng: random.Random) -> str:
    pct = round(value * 100, 2)
    pct_text = str(int(pct)) if float(pct).is_integer() else str(pct)
    return rng.choice((f"{pct_text}%", f"{pct_text} percent", f"{pct_text} per cent"))


def _say_date(kind: Kind, value: str, rng: random.Random) -> str:
    year, month, day = (int(x) for x in value.split("-"))
    name = MONTHS[month - 1]
    return rng.choice(
        (
            value,
            f"{name} {day}, {year}",
            f"{day} {name} {year}",
            f"the {ordinal(day)} of {name} {year}",
            f"{name} {ordinal(day)} {year}",
            f"{day:02d}.{month:02d}.{year}",
        )
    )


def _say_time(kind: Kind, value: str, rng: random.Random) -> str:
    hour, minute = (int(x) for x in value.split(":"))
    twelve = hour % 12 or 12
    half = "am" if hour < 12 else "pm"
    forms = [value, f"{twelve}:{minute:02d} {half}", f"{twelve}:{minute:02d}{half.upper()}"]
    if minute == 0:
        forms.append(f"{twelve} o'clock in the {'morning' if hour < 12 else 'afternoon' if hour < 18 else 'evening'}")
    if minute == 30:
        forms.append(f"half past {number_word(twelve)} {'in the morning' if hour < 12 else 'pm'}")
    return rng.choice(forms)


def _say_minutes(kind: Kind, value: int, rng: random.Random) -> str:
    forms = [f"{value} minutes", f"{number_word(value)} minutes"] if value < 100 else [f"{value} minutes"]
    if value % 60 == 0:
        hours = value // 60
        forms += [f"{hours} hour{'s' if hours > 1 else ''}", f"{number_word(hours)} hour{'s' if hours > 1 else ''}"]
    elif value % 30 == 0 and value > 60:
        forms += [f"{value / 60:g} hours", f"{value // 60} and a half hours"]
    elif value == 45:
        forms.append("three quarters of an hour")
    elif value == 15:
        forms.append("a quarter of an hour")
    return rng.choice(forms)


def _say_metric(big: str, small: str) -> Any:
    def say(kind: Kind, value: float, rng: random.Random) -> str:
        small_value = round(value * 1000)
        if rng.random() < 0.6:
            return f"{small_value:,} {small}" if rng.random() < 0.5 else f"{small_value} {small}"
        return f"{value:g} {big}"

    return say


def _say_list(kind: Kind, value: list, rng: random.Random) -> str:
    return join_words([str(v) for v in value], rng)


def _say_readings(kind: Kind, value: list[float], rng: random.Random) -> str:
    return join_words([f"{v:.2f}".rstrip("0").rstrip(".") if not v.is_integer() else f"{v:.1f}" for v in value], rng)


def _say_enum(kind: Kind, value: str, rng: random.Random) -> str:
    return value.replace("_", " ")


def _say_address(kind: Kind, value: dict, rng: random.Random) -> str:
    return f"{value['street']}, {value['city']} {value['postal_code']}"


def _say_size(kind: Kind, value: dict, rng: random.Random) -> str:
    return rng.choice((f"{value['width']} by {value['height']} pixels", f"{value['width']}x{value['height']}"))


def _say_items(kind: Kind, value: list[dict], rng: random.Random) -> str:
    return join_words([f"{_say_count(kind, i['quantity'], rng)} x {i['product']}" for i in value], rng)


_SAYERS: dict[str, Any] = {
    "count": _say_count,
    "money": _say_money,
    "percent": _say_percent,
    "date": _say_date,
    "time": _say_time,
    "minutes": _say_minutes,
    "kilograms": _say_metric("kg", "grams"),
    "kilometers": _say_metric("km", "meters"),
    "emails": _say_list,
    "tags": _say_list,
    "readings": _say_readings,
    "enum": _say_enum,
    "address": _say_address,
    "size": _say_size,
    "line_items": _say_items,
    "title": lambda k, v, rng: f'"{v}"',
    "code": lambda k, v, rng: v,
}

REASONED_SHARE = 0.65
ENUM_WORDS: dict[str, tuple[str, ...]] = {
    "low": ("minimal", "low"),
    "normal": ("standard", "normal"),
    "high": ("elevated", "high"),
    "critical": ("top", "critical"),
    "pdf": ("PDF document", "pdf"),
    "csv": ("comma-separated", "CSV"),
    "xlsx": ("Excel spreadsheet", "xlsx"),
    "json": ("JSON", "json"),
    "email": ("e-mail", "email"),
    "sms": ("text message", "SMS"),
    "push": ("app notification", "push"),
    "phone": ("a phone call", "phone"),
    "on_hold": ("on hold",),
    "economy": ("coach", "economy"),
    "premium_economy": ("premium economy",),
    "business": ("business",),
    "first": ("first",),
    "daily": ("every day", "daily"),
    "weekly": ("once a week", "weekly"),
    "monthly": ("every month", "monthly"),
    "quarterly": ("every three months", "quarterly"),
    "small": ("small",),
    "medium": ("mid-sized", "medium"),
    "large": ("large", "big"),
    "extra_large": ("extra large", "XL"),
}
CAPITALS = {"Lisbon": "Portugal", "Nairobi": "Kenya", "Quito": "Ecuador", "Tallinn": "Estonia", "Accra": "Ghana",
            "Dakar": "Senegal"}  # fmt: skip


def _reason_count(kind: Kind, n: int, rng: random.Random) -> str | None:
    forms = [f"one more than {number_word(n - 1)}"] if n > 1 else []
    if n > 3:
        k = rng.randint(1, n - 2)
        forms += [f"{number_word(n - k)} plus {number_word(k)}", f"{n - k} plus another {k}"]
    if n % 2 == 0 and n > 2:
        forms.append(f"twice {number_word(n // 2)}")
    return rng.choice(forms) if forms else None


def _reason_money(kind: Kind, value: float, rng: random.Random) -> str | None:
    cents = round(value * 100)
    if cents < 400:
        return None
    fee = rng.randint(1, cents // 4)
    base = cents - fee
    return f"${base / 100:,.2f} plus ${fee / 100:,.2f} in fees".replace(".00 ", " ").replace(".00", "")


def _reason_percent(kind: Kind, value: float, rng: random.Random) -> str | None:
    words = {0.5: "half", 0.25: "a quarter", 0.75: "three quarters", 0.1: "a tenth", 0.2: "a fifth",
             0.05: "a twentieth"}  # fmt: skip
    return words.get(value)


def _reason_date(kind: Kind, value: str, rng: random.Random) -> str | None:
    day = dt.date.fromisoformat(value)
    shift = rng.choice((1, 2, 7, -1, -7, 14))
    anchor = day - dt.timedelta(days=shift)
    said = _say_date(kind, anchor.isoformat(), rng)
    spans = {1: "the day after", 2: "two days after", 7: "a week after", -1: "the day before",
             -7: "a week before", 14: "two weeks after"}  # fmt: skip
    return f"{spans[shift]} {said}"


def _reason_time(kind: Kind, value: str, rng: random.Random) -> str | None:
    hour, minute = (int(x) for x in value.split(":"))
    total = hour * 60 + minute
    shift = rng.choice((30, 60, -30, -60, 90))
    anchor = total - shift
    if not 0 <= anchor < 24 * 60:
        return None
    spans = {30: "half an hour after", 60: "an hour after", -30: "half an hour before", -60: "an hour before",
             90: "an hour and a half after"}  # fmt: skip
    return f"{spans[shift]} {_say_time(kind, f'{anchor // 60:02d}:{anchor % 60:02d}', rng)}"


def _reason_minutes(kind: Kind, value: int, rng: random.Random) -> str | None:
    hours, minutes = divmod(value, 60)
    if hours and minutes:
        return f"{number_word(hours)} hour{'s' if hours > 1 else ''} and {number_word(minutes)} minutes"
    if hours:
        return f"{hours * 60 - 15} minutes plus a quarter of an hour"
    return None


def _reason_metric(big: str) -> Any:
    def reason(kind: Kind, value: float, rng: random.Random) -> str | None:
        words = {0.5: f"half a {big}", 0.75: f"three quarters of a {big}", 0.25: f"a quarter of a {big}",
                 1.5: f"a {big} and a half", 2.5: f"two and a half {big}s"}  # fmt: skip
        return words.get(value)

    return reason


def _reason_enum(kind: Kind, value: str, rng: random.Random) -> str | None:
    return rng.choice(ENUM_WORDS.get(value, (value.replace("_", " "),)))


def _reason_city(kind: Kind, value: str, rng: random.Random) -> str | None:
    return f"the capital of {CAPITALS[value]}" if value in CAPITALS else None


def _reason_emails(kind: Kind, value: list[str], rng: random.Random) -> str | None:
    people = []
    for address in value:
        local, domain = address.split("@")
        first, last = local.split(".")
        people.append(f"{first.title()} {last.title()} (at {domain})")
    return join_words(people, rng) + ", each as firstname.lastname"


def _reason_size(kind: Kind, value: dict, rng: random.Random) -> str | None:
    return f"{value['width']} pixels wide and {value['height']} tall"


def _reason_items(kind: Kind, value: list[dict], rng: random.Random) -> str | None:
    parts = []
    for item in value:
        product = item["product"]
        parts.append(f"{number_word(item['quantity'])} {plural(product) if item['quantity'] > 1 else product}")
    return join_words(parts, rng)


def _reason_person(kind: Kind, value: str, rng: random.Random) -> str | None:
    first, last = value.split()
    return rng.choice((f"{last}, {first} (surname first)", f"{first} (surname {last})"))


_REASONED: dict[str, Any] = {
    "person": _reason_person,
    "count": _reason_count,
    "money": _reason_money,
    "percent": _reason_percent,
    "date": _reason_date,
    "time": _reason_time,
    "minutes": _reason_minutes,
    "kilograms": _reason_metric("kilo"),
    "kilometers": _reason_metric("kilometre"),
    "enum": _reason_enum,
    "city": _reason_city,
    "emails": _reason_emails,
    "size": _reason_size,
    "line_items": _reason_items,
}

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("person", "string"),
        Kind("email", "string"),
        Kind("emails", "array", items="string"),
        Kind("city", "string"),
        Kind("title", "string"),
        Kind("code", "string"),
        Kind("tags", "array", items="string"),
        Kind("count", "integer"),
        Kind("money", "float", " Amount in US dollars."),
        Kind("percent", "float", " A fraction between 0 and 1 (15% is 0.15)."),
        Kind("date", "string", " Format YYYY-MM-DD."),
        Kind("time", "string", " 24-hour clock, HH:MM."),
        Kind("minutes", "integer", " In minutes."),
        Kind("kilograms", "float", " In kilograms."),
        Kind("kilometers", "float", " In kilometres."),
        Kind("flag", "boolean"),
        Kind("enum", "string"),
        Kind("readings", "array", items="float"),
        Kind(
            "address",
            "dict",
            properties=(
                ("street", "title", "Street and number."),
                ("city", "city", "City."),
                ("postal_code", "code", "Postal code."),
            ),
        ),
        Kind("size", "dict", properties=(("width", "count", "Width in pixels."), ("height", "count", "Height."))),
        Kind(
            "line_items",
            "array",
            properties=(("product", "title", "Product name."), ("quantity", "count", "How many.")),
        ),
    )
}

ENUMS: dict[str, tuple[str, ...]] = {
    "priority": ("low", "normal", "high", "critical"),
    "format": ("pdf", "csv", "xlsx", "json"),
    "visibility": ("private", "team", "public"),
    "channel": ("email", "sms", "push", "phone"),
    "status": ("pending", "approved", "rejected", "on_hold"),
    "cabin": ("economy", "premium_economy", "business", "first"),
    "frequency": ("daily", "weekly", "monthly", "quarterly"),
    "size_class": ("small", "medium", "large", "extra_large"),
}


@dataclass(frozen=True)
class Attribute:
    """A parameter: its name, its kind, what it means, how a request introduces it (`{}` is the value), and,
    for a boolean, what is said for True and for False."""

    name: str
    kind: str
    description: str
    phrases: tuple[str, ...]
    enum: str | None = None
    required: bool = True
    default: Any = None
    yes_no: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def kind_of(self) -> Kind:
        base = KINDS[self.kind]
        return Kind(base.name, base.type, base.unit_note, ENUMS[self.enum], base.pool) if self.enum else base

    def schema(self) -> dict[str, Any]:
        out = self.kind_of().schema(self.description)
        if self.default is not None:
            out["default"] = self.default
        return out


def _a(name: str, kind: str, description: str, *phrases: str, **extra: Any) -> Attribute:
    return Attribute(name, kind, description, phrases, **extra)


def _flag(name: str, description: str, yes: tuple[str, ...], no: tuple[str, ...], default: bool) -> Attribute:
    return Attribute(name, "flag", description, (), required=False, default=default, yes_no=(yes, no))


@dataclass(frozen=True)
class BusinessObject:
    name: str
    nouns: tuple[str, ...]
    """How requests call it (the first is the name's own word)."""
    attributes: tuple[Attribute, ...]


_WHO = ("for {}", "on behalf of {}", "in the name of {}")
OBJECTS: tuple[BusinessObject, ...] = (
    BusinessObject("invoice", ("invoice", "bill"), (
        _a("customer", "person", "Customer name.", *_WHO),
        _a("amount", "money", "Total due.", "for {}", "totalling {}", "of {}"),
        _a("due_date", "date", "Payment due date.", "due on {}", "payable by {}", "with a due date of {}"),
        _a("line_items", "line_items", "Products billed.", "covering {}", "listing {}"),
    )),
    BusinessObject("meeting", ("meeting", "call", "sync"), (
        _a("title", "title", "Meeting title.", "titled {}", "called {}"),
        _a("date", "date", "Day of the meeting.", "on {}", "for {}"),
        _a("start_time", "time", "Start time.", "at {}", "starting at {}"),
        _a("duration", "minutes", "Length.", "lasting {}", "for {}", "that runs {}", required=False, default=30),
        _a("attendees", "emails", "Invitees' addresses.", "with {}", "inviting {}"),
    )),
    BusinessObject("flight_booking", ("flight", "flight booking", "plane ticket"), (
        _a("passenger", "person", "Passenger name.", *_WHO),
        _a("destination", "city", "Arrival city.", "to {}", "bound for {}", "into {}"),
        _a("departure_date", "date", "Departure day.", "leaving {}", "departing on {}", "on {}"),
        _a("cabin", "enum", "Cabin class.", "in {} class", "{} cabin", enum="cabin", required=False,
           default="economy"),
        _a("bags", "count", "Checked bags.", "with {} checked bags", "plus {} bags", required=False, default=0),
    )),
    BusinessObject("shipment", ("shipment", "parcel", "delivery"), (
        _a("recipient", "person", "Recipient name.", "to {}", "addressed to {}"),
        _a("address", "address", "Delivery address.", "at {}", "delivered to {}"),
        _a("weight", "kilograms", "Parcel weight.", "weighing {}", "of {}"),
        _a("priority", "enum", "Handling priority.", "with {} priority", "marked {} priority", enum="priority",
           required=False, default="normal"),
        _flag("insured", "Insure the parcel.", ("insured", "with insurance"), ("uninsured", "without insurance"),
              False),
    )),
    BusinessObject("expense_report", ("expense report", "expense claim", "expenses"), (
        _a("employee", "person", "Employee name.", *_WHO, "from {}"),
        _a("amount", "money", "Amount claimed.", "for {}", "of {}", "claiming {}"),
        _a("date", "date", "Date of the expense.", "dated {}", "from {}", "for {}"),
        _a("tags", "tags", "Labels.", "tagged {}", "with the labels {}", required=False),
    )),
    BusinessObject("workout_plan", ("workout plan", "training plan", "exercise routine"), (
        _a("athlete", "person", "Who it is for.", *_WHO),
        _a("session_length", "minutes", "Length of one session.", "with sessions of {}", "of {} per session"),
        _a("frequency", "enum", "How often.", "repeating {}", "recurring {}", enum="frequency"),
        _a("target_distance", "kilometers", "Distance goal per session.", "aiming at {}", "covering {}",
           required=False),
    )),
    BusinessObject("discount_code", ("discount code", "coupon", "promo code"), (
        _a("code", "code", "The code customers type.", "with the code {}", "using the code {}"),
        _a("rate", "percent", "Discount rate.", "worth {}", "giving {} off", "for {} off"),
        _a("expires_on", "date", "Last valid day.", "valid until {}", "expiring {}"),
        _a("max_uses", "count", "How many times it can be used.", "usable {} times", "capped at {} uses",
           required=False, default=100),
    )),
    BusinessObject("sensor_log", ("sensor log", "sensor reading log", "measurement log"), (
        _a("sensor_id", "code", "Sensor identifier.", "for sensor {}", "of sensor {}"),
        _a("readings", "readings", "Measured values.", "with readings {}", "containing {}"),
        _a("date", "date", "Day measured.", "for {}", "from {}"),
    )),
    BusinessObject("image_asset", ("image", "picture", "graphic"), (
        _a("file_name", "title", "File name.", "named {}", "called {}"),
        _a("size", "size", "Target size.", "at {}", "sized {}"),
        _a("visibility", "enum", "Who can see it.", "as {}", "with {} visibility", enum="visibility",
           required=False, default="private"),
    )),
    BusinessObject("support_ticket", ("support ticket", "ticket", "help desk case"), (
        _a("customer_email", "email", "Customer address.", "for {}", "from {}", "raised by {}"),
        _a("subject", "title", "Subject line.", "about {}", "with the subject {}"),
        _a("priority", "enum", "Urgency.", "at {} priority", "with {} priority", enum="priority"),
        _a("channel", "enum", "Reply channel.", "answering by {}", "via {}", enum="channel", required=False,
           default="email"),
    )),
    BusinessObject("grocery_order", ("grocery order", "shopping order", "supply order"), (
        _a("line_items", "line_items", "What to buy.", "for {}", "of {}", "with {}"),
        _a("delivery_date", "date", "Delivery day.", "delivered on {}", "arriving {}"),
        _a("delivery_time", "time", "Delivery slot.", "at {}", "around {}", required=False),
        _flag("leave_at_door", "Leave without a signature.", ("left at the door", "with contactless drop-off"),
              ("handed over in person", "with a signature"), False),
    )),
    BusinessObject("newsletter", ("newsletter", "mailing", "bulletin"), (
        _a("title", "title", "Newsletter title.", "titled {}", "called {}"),
        _a("recipients", "emails", "Addresses.", "to {}", "for {}"),
        _a("send_date", "date", "When to send.", "going out on {}", "scheduled for {}"),
        _a("send_time", "time", "Time of sending.", "at {}", required=False, default="09:00"),
    )),
    BusinessObject("loan_quote", ("loan quote", "loan offer", "mortgage quote"), (
        _a("applicant", "person", "Applicant.", *_WHO),
        _a("principal", "money", "Amount borrowed.", "for {}", "of {}", "borrowing {}"),
        _a("interest_rate", "percent", "Yearly interest rate.", "at an interest rate of {}", "charging {} in interest"),
        _a("term_months", "count", "Term in months.", "over {} months", "for {} months"),
    )),
    BusinessObject("room_booking", ("room booking", "hotel room", "room reservation"), (
        _a("guest", "person", "Guest name.", *_WHO),
        _a("city", "city", "Hotel city.", "in {}", "at a hotel in {}"),
        _a("check_in", "date", "Arrival day.", "checking in {}", "arriving {}", "from {}"),
        _a("nights", "count", "Number of nights.", "for {} nights", "staying {} nights"),
        _a("room_size", "enum", "Room size.", "in a {} room", enum="size_class", required=False, default="medium"),
    )),
    BusinessObject("job_posting", ("job posting", "job ad", "vacancy"), (
        _a("title", "title", "Job title.", "for {}", "titled {}"),
        _a("city", "city", "Where the job is.", "in {}", "based in {}"),
        _a("salary", "money", "Yearly salary.", "paying {}", "at {} a year"),
        _a("status", "enum", "Posting status.", "as {}", "with status {}", enum="status", required=False,
           default="pending"),
        _flag("remote", "Remote work allowed.", ("remote-friendly", "allowing remote work"),
              ("on-site only", "with no remote work"), False),
    )),
    BusinessObject("payroll_run", ("payroll run", "salary payment", "payroll"), (
        _a("employee", "person", "Employee.", *_WHO),
        _a("gross_amount", "money", "Gross pay.", "of {}", "paying {}"),
        _a("pay_date", "date", "Payday.", "on {}", "paid out {}"),
        _a("bonus_rate", "percent", "Bonus as a share of gross.", "with a bonus of {}", required=False, default=0.0),
    )),
)  # fmt: skip


@dataclass(frozen=True)
class Operation:
    name: str
    verbs: tuple[str, ...]
    """Imperative forms a request may use."""
    description: str
    uses: str
    """Which attributes the operation takes: `all` or `key` (the object's first one)."""
    participle: str = ""
    extra: tuple[Attribute, ...] = ()


OPERATIONS: tuple[Operation, ...] = (
    Operation("create", ("create", "set up", "open", "make", "add"), "Create a new {noun}.", "all", "created"),
    Operation("update", ("update", "change", "amend", "modify", "edit"), "Change an existing {noun}.", "all", "updated",
              (_a("reference", "code", "Reference of the {noun} to change.", "with reference {}", "ref {}"),)),
    Operation("cancel", ("cancel", "call off", "withdraw", "scrap"), "Cancel a {noun}.", "key", "cancelled",
              (_a("reference", "code", "Reference of the {noun}.", "with reference {}", "ref {}", "number {}"),
               _a("reason", "title", "Why.", "because of {}", "citing {}", required=False))),
    Operation("duplicate", ("duplicate", "copy", "clone"), "Copy a {noun} to a new date.", "key", "copied",
              (_a("reference", "code", "Reference of the {noun} to copy.", "with reference {}", "ref {}"),
               _a("new_date", "date", "Date of the copy.", "to {}", "moving the copy to {}"))),
    Operation("export", ("export", "download", "save out"), "Export {noun} records.", "key", "exported",
              (_a("format", "enum", "File format.", "as {}", "in {} format", enum="format"),
               _a("since", "date", "Earliest record.", "since {}", "from {} on"))),
    Operation("share", ("share", "forward", "pass on"), "Share a {noun} with people.", "key", "shared",
              (_a("reference", "code", "Reference of the {noun}.", "with reference {}", "ref {}"),
               _a("recipients", "emails", "Who gets it.", "with {}", "to {}"),
               _a("visibility", "enum", "Access level.", "as {}", enum="visibility", required=False,
                  default="private"))),
    Operation("schedule", ("schedule", "plan", "book in"), "Schedule a recurring {noun}.", "key", "scheduled",
              (_a("frequency", "enum", "Repetition.", "repeating {}", "recurring {}", enum="frequency"),
               _a("start_date", "date", "First occurrence.", "starting {}", "from {}"))),
    Operation("estimate", ("estimate", "quote", "price out"), "Estimate the cost of a {noun}.", "all", "priced"),
    Operation("archive", ("archive", "file away", "shelve"), "Archive a {noun}.", "key", "archived",
              (_a("reference", "code", "Reference of the {noun}.", "with reference {}", "ref {}", "number {}"),
               _a("retention_months", "count", "Keep it this long.", "for {} months", "keeping it {} months"))),
    Operation("remind", ("remind me about", "set a reminder for", "send a reminder about"),
              "Remind about a {noun}.", "key", "",
              (_a("remind_date", "date", "Day of the reminder.", "on {}", "on the day {}"),
               _a("remind_time", "time", "Time of the reminder.", "at {}"),
               _a("channel", "enum", "How.", "by {}", "via {}", enum="channel", required=False, default="push"))),
    Operation("validate", ("validate", "check", "verify"), "Check a {noun} for errors.", "all", "checked"),
    Operation("summarize", ("summarize", "sum up", "give me an overview of"), "Summary of {noun} records.", "key",
              "summarized",
              (_a("since", "date", "Earliest record.", "since {}", "from {} on"),
               _a("limit", "count", "At most this many.", "limited to {}", "top {}", required=False,
                  default=10))),
)  # fmt: skip


def attributes_of(operation: Operation, obj: BusinessObject) -> tuple[Attribute, ...]:
    """The parameters of (operation, object): the object's attributes it uses, then its own."""
    own = obj.attributes if operation.uses == "all" else obj.attributes[:1]
    noun = obj.nouns[0]
    extra = tuple(
        Attribute(a.name, a.kind, a.description.format(noun=noun), a.phrases, a.enum, a.required, a.default, a.yes_no)
        for a in operation.extra
    )
    names = {a.name for a in extra}
    return tuple(a for a in own if a.name not in names) + extra


def function_name(operation: Operation, obj: BusinessObject) -> str:
    return f"{operation.name}_{obj.name}"


def function_schema(operation: Operation, obj: BusinessObject) -> dict[str, Any]:
    params = attributes_of(operation, obj)
    return {
        "name": function_name(operation, obj),
        "description": operation.description.format(noun=obj.nouns[0]),
        "parameters": {
            "type": "dict",
            "properties": {a.name: a.schema() for a in params},
            "required": [a.name for a in params if a.required],
        },
    }


FUNCTIONS: tuple[tuple[Operation, BusinessObject], ...] = tuple((op, obj) for obj in OBJECTS for op in OPERATIONS)
