"""The function library behind generated tool-call tasks.

Each function has typed parameters (string, float, integer, boolean, enum, array, dict) with a sampler, the way
the value is said in a request, and the alternatives a checker should accept; and request templates that name
parameters as `{param}`. A template names every required parameter; optional ones it leaves out are
ground-truth optional (`""`, plus their default). Schemas are in BFCL's form (`type: dict`, `float`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Sampler = Callable[[random.Random], Any]

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value}"


def _join(items: list[str]) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str
    sample: Sampler
    required: bool = True
    enum: tuple[str, ...] | None = None
    items: str | None = None
    properties: dict[str, dict] | None = None
    default: Any = None
    say: Callable[[Any], str] = str
    alternatives: Callable[[Any], list] | None = None
    distinct_from: str | None = None
    """Another parameter this one must differ from (no flight from JFK to JFK)."""

    def schema(self) -> dict:
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.enum:
            out["enum"] = list(self.enum)
        if self.items:
            out["items"] = {"type": self.items}
        if self.properties:
            out["properties"] = self.properties
        if self.default is not None:
            out["default"] = self.default
        return out

    def accepted(self, value: Any) -> list:
        if self.alternatives is not None:
            return self.alternatives(value)
        if self.type == "dict":
            return [{k: [v] for k, v in value.items()}]
        return [value]


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    params: tuple[Param, ...]
    templates: tuple[str, ...]
    topic: str = field(default="")

    def schema(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "dict",
                "properties": {p.name: p.schema() for p in self.params},
                "required": [p.name for p in self.params if p.required],
            },
        }


def _choice(options: tuple | list) -> Sampler:
    return lambda rng: rng.choice(list(options))


def _int(low: int, high: int) -> Sampler:
    return lambda rng: rng.randint(low, high)


def _money(low: int, high: int) -> Sampler:
    return lambda rng: round(rng.randint(low * 4, high * 4) / 4, 2)


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2025, 2027)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _say_date(value: str) -> str:
    year, month, day = value.split("-")
    return f"{_MONTHS[int(month) - 1]} {int(day)}, {year}"


def _date_alts(value: str) -> list:
    year, month, day = value.split("-")
    return [value, _say_date(value), f"{int(day)} {_MONTHS[int(month) - 1]} {year}"]


def _sample_list(pool: tuple[str, ...], low: int, high: int) -> Sampler:
    return lambda rng: rng.sample(list(pool), rng.randint(low, high))


CITIES = ("Paris", "Tokyo", "Nairobi", "Lima", "Oslo", "Toronto", "Hanoi", "Madrid", "Cairo", "Sydney", "Denver")
CURRENCIES = ("USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "INR")
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "META", "IBM")
INGREDIENTS = ("tomato", "basil", "chickpeas", "spinach", "rice", "mushrooms", "lentils", "tofu", "garlic")
PEOPLE = ("ana@example.com", "li@example.org", "sam@example.net", "kofi@example.com", "mia@example.org")
AIRPORTS = ("JFK", "LHR", "CDG", "NRT", "SFO", "DXB", "SIN", "GRU", "FRA")
ROOMS = ("kitchen", "bedroom", "living room", "office", "garage")
LANGUAGES = ("French", "German", "Spanish", "Japanese", "Swahili", "Portuguese")
PHRASES = ("good morning", "where is the station", "thank you very much", "the meeting is at noon")
RESTAURANTS = ("Blue Fig", "Casa Lola", "The Green Room", "Sakura House", "Olive Tree")

LIBRARY: tuple[Function, ...] = (
    Function(
        "get_weather_forecast",
        "Get the weather forecast for a city.",
        (
            Param("city", "string", "City name.", _choice(CITIES), alternatives=lambda v: [v]),
            Param(
                "unit",
                "string",
                "Temperature unit.",
                _choice(("celsius", "fahrenheit")),
                required=False,
                enum=("celsius", "fahrenheit"),
                default="celsius",
                say=lambda v: f"in {v}",
            ),
            Param("days", "integer", "Number of days to forecast.", _int(1, 7), required=False, default=1),
        ),
        (
            "What will the weather be like in {city} over the next {days} days?",
            "Give me the forecast for {city} {unit}.",
            "I need a {days}-day weather forecast for {city}, {unit} please.",
            "What's the weather going to be in {city}?",
        ),
    ),
    Function(
        "convert_currency",
        "Convert an amount of money from one currency to another.",
        (
            Param("amount", "float", "Amount to convert.", _money(5, 5000), say=_num),
            Param("from_currency", "string", "ISO code of the source currency.", _choice(CURRENCIES)),
            Param(
                "to_currency",
                "string",
                "ISO code of the target currency.",
                _choice(CURRENCIES),
                distinct_from="from_currency",
            ),
        ),
        (
            "How much is {amount} {from_currency} in {to_currency}?",
            "Convert {amount} {from_currency} to {to_currency}.",
        ),
    ),
    Function(
        "book_table",
        "Reserve a table at a restaurant.",
        (
            Param("restaurant", "string", "Restaurant name.", _choice(RESTAURANTS)),
            Param("party_size", "integer", "Number of guests.", _int(1, 12)),
            Param("date", "string", "Date, YYYY-MM-DD.", _date, say=_say_date, alternatives=_date_alts),
            Param(
                "outdoor",
                "boolean",
                "Seat outside.",
                _choice((True, False)),
                required=False,
                default=False,
                say=lambda v: "outside on the terrace" if v else "indoors",
            ),
        ),
        (
            "Book a table for {party_size} at {restaurant} on {date}.",
            "Reserve {restaurant} for {party_size} people on {date}, seated {outdoor}.",
            "Can you get us a table at {restaurant} on {date}? We are {party_size}.",
        ),
    ),
    Function(
        "calculate_loan_payment",
        "Monthly payment of a fixed-rate loan.",
        (
            Param("principal", "float", "Amount borrowed.", _money(1000, 500000), say=_num),
            Param(
                "annual_rate",
                "float",
                "Yearly interest rate in percent.",
                lambda rng: round(rng.randint(10, 120) / 10, 1),
                say=_num,
            ),
            Param("years", "integer", "Term in years.", _int(1, 30)),
        ),
        (
            "What is the monthly payment on a loan of {principal} at {annual_rate}% over {years} years?",
            "I borrow {principal} for {years} years at {annual_rate} percent a year. Monthly payment?",
        ),
    ),
    Function(
        "send_email",
        "Send an email.",
        (
            Param("to", "array", "Recipient addresses.", _sample_list(PEOPLE, 1, 3), items="string", say=_join),
            Param("subject", "string", "Subject line.", _choice(("Invoice", "Lunch plans", "Quarterly report"))),
            Param(
                "urgent",
                "boolean",
                "Mark as urgent.",
                _choice((True, False)),
                required=False,
                default=False,
                say=lambda v: "Mark it urgent." if v else "It is not urgent.",
            ),
        ),
        (
            'Email {to} with the subject "{subject}".',
            'Send an email titled "{subject}" to {to}. {urgent}',
        ),
    ),
    Function(
        "get_stock_prices",
        "Historical prices for stock tickers.",
        (
            Param("tickers", "array", "Ticker symbols.", _sample_list(TICKERS, 1, 4), items="string", say=_join),
            Param(
                "period",
                "string",
                "Time window.",
                _choice(("1d", "5d", "1mo", "1y")),
                enum=("1d", "5d", "1mo", "1y"),
                say=lambda v: {
                    "1d": "today",
                    "5d": "the last five days",
                    "1mo": "the last month",
                    "1y": "the last year",
                }[v],
            ),
        ),
        ("Show me prices for {tickers} over {period}.", "How did {tickers} trade during {period}?"),
    ),
    Function(
        "resize_image",
        "Resize an image file.",
        (
            Param("path", "string", "Image path.", _choice(("photo.jpg", "logo.png", "scan.tiff", "banner.webp"))),
            Param(
                "size",
                "dict",
                "Target size in pixels.",
                lambda rng: {"width": rng.choice((64, 128, 256, 640, 800)), "height": rng.choice((48, 96, 480, 600))},
                properties={
                    "width": {"type": "integer", "description": "Width in pixels."},
                    "height": {"type": "integer", "description": "Height in pixels."},
                },
                say=lambda v: f"{v['width']} by {v['height']} pixels",
            ),
            Param(
                "keep_aspect",
                "boolean",
                "Keep the aspect ratio.",
                _choice((True, False)),
                required=False,
                default=True,
                say=lambda v: "keeping" if v else "ignoring",
            ),
        ),
        ("Resize {path} to {size}.", "Make {path} {size}, {keep_aspect} the aspect ratio."),
    ),
    Function(
        "translate_text",
        "Translate text into another language.",
        (
            Param("text", "string", "Text to translate.", _choice(PHRASES), say=lambda v: f'"{v}"'),
            Param("target_language", "string", "Target language.", _choice(LANGUAGES), enum=LANGUAGES),
        ),
        ("Translate {text} into {target_language}.", "How do you say {text} in {target_language}?"),
    ),
    Function(
        "set_thermostat",
        "Set the target temperature of a room.",
        (
            Param("room", "string", "Room.", _choice(ROOMS), enum=ROOMS),
            Param("temperature", "float", "Target in Celsius.", lambda rng: rng.randint(32, 52) / 2, say=_num),
            Param(
                "mode",
                "string",
                "Mode.",
                _choice(("heat", "cool", "auto")),
                required=False,
                enum=("heat", "cool", "auto"),
                default="auto",
                say=lambda v: f"in {v} mode",
            ),
        ),
        ("Set the {room} to {temperature} degrees.", "Put the {room} thermostat at {temperature} °C {mode}."),
    ),
    Function(
        "search_flights",
        "Search flights between two airports.",
        (
            Param("origin", "string", "IATA code of departure.", _choice(AIRPORTS)),
            Param("destination", "string", "IATA code of arrival.", _choice(AIRPORTS), distinct_from="origin"),
            Param("date", "string", "Date, YYYY-MM-DD.", _date, say=_say_date, alternatives=_date_alts),
            Param(
                "nonstop",
                "boolean",
                "Only direct flights.",
                _choice((True, False)),
                required=False,
                default=False,
                say=lambda v: "direct flights only" if v else "connections are fine",
            ),
            Param("max_price", "integer", "Highest fare in USD.", _int(100, 2000), required=False),
        ),
        (
            "Find flights from {origin} to {destination} on {date}.",
            "Search {origin} to {destination} on {date}, {nonstop}.",
            "Any flights {origin} -> {destination} on {date} under {max_price} dollars?",
        ),
    ),
    Function(
        "compute_statistics",
        "Summary statistic of a list of numbers.",
        (
            Param(
                "values",
                "array",
                "The numbers.",
                lambda rng: [float(rng.randint(1, 99)) for _ in range(rng.randint(3, 6))],
                items="float",
                say=lambda v: _join([_num(x) for x in v]),
            ),
            Param(
                "measure",
                "string",
                "Statistic.",
                _choice(("mean", "median", "stdev")),
                enum=("mean", "median", "stdev"),
                say=lambda v: {"mean": "average", "median": "median", "stdev": "standard deviation"}[v],
            ),
        ),
        ("What is the {measure} of {values}?", "Compute the {measure} of these numbers: {values}."),
    ),
    Function(
        "find_recipes",
        "Find recipes using given ingredients.",
        (
            Param("ingredients", "array", "Ingredients.", _sample_list(INGREDIENTS, 1, 3), items="string", say=_join),
            Param(
                "vegetarian",
                "boolean",
                "Vegetarian only.",
                _choice((True, False)),
                say=lambda v: "vegetarian" if v else "any kind of",
            ),
            Param("max_minutes", "integer", "Longest cooking time.", _int(10, 90), required=False),
        ),
        (
            "Find {vegetarian} recipes with {ingredients}.",
            "I have {ingredients}; suggest {vegetarian} recipes that take under {max_minutes} minutes.",
        ),
    ),
    Function(
        "track_package",
        "Where a parcel is.",
        (
            Param(
                "tracking_number",
                "string",
                "Tracking number.",
                lambda rng: "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10)),
            ),
            Param(
                "carrier",
                "string",
                "Carrier.",
                _choice(("UPS", "FedEx", "DHL", "USPS")),
                enum=("UPS", "FedEx", "DHL", "USPS"),
            ),
        ),
        ("Where is my {carrier} package {tracking_number}?", "Track {tracking_number} with {carrier}."),
    ),
)

IRRELEVANT_REQUESTS = (
    "Tell me a short joke about penguins.",
    "Who wrote the novel Things Fall Apart?",
    "Write a haiku about the first snow.",
    "What is the square root of 144?",
    "Explain in one sentence why the sky looks blue.",
    "What is the capital of Mongolia?",
    "Suggest a name for a grey kitten.",
    "How many legs does a spider have?",
    "Summarise the plot of Romeo and Juliet in one line.",
    "What does the word 'ephemeral' mean?",
)


def number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)
