"""Fresh tool-call tasks from the domain vocabulary: a seed in, BFCL-shaped tasks out.

Generated tasks cannot have been memorised, and they are built so that inverting the generator is not a
shortcut: the function is picked among near neighbours (other operations on the same object), requests come
from a grammar of sentence structures, verbs and nouns, values arrive in varied surface forms that the schema
asks to normalise (words for numbers, dates in several formats, hours for a parameter in minutes, grams for
kilograms, per cent for a fraction), the request sits among sentences that mention values of the same kinds,
some requests correct themselves ("... actually, make that ..."), and irrelevance requests are generated
(an operation or an object the offered functions lack, or a question no tool answers), not drawn from a list.

Every random choice comes from the `rng` handed in, in a fixed order, so the same seed gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from harness.tasks.prompts import openai_tools, toolcall_messages
from harness.tasks.toolcall_library import (
    CITIES,
    FUNCTIONS,
    OBJECTS,
    OPERATIONS,
    PEOPLE,
    WORDS,
    Attribute,
    BusinessObject,
    Operation,
    attributes_of,
    function_name,
    function_schema,
    number_word,
)

_OPENERS = (
    "{verb} {art} {noun} {args}.",
    "Please {verb} {art} {noun} {args}.",
    "Could you {verb} {art} {noun} {args}?",
    "I need you to {verb} {art} {noun} {args}.",
    "I'd like to {verb} {art} {noun}: {args}.",
    "Can you {verb} {art} {noun} {args} for me?",
    "Go ahead and {verb} {art} {noun} {args}.",
    "We have to {verb} {art} {noun} {args}.",
    "Here is what I need: {verb} {art} {noun} {args}.",
    "My request is simple: {verb} {art} {noun} {args}.",
    "{lead}, {verb} {art} {noun} {args}.",
    "{lead}, could you {verb} {art} {noun} {args}?",
    "It would help if you could {verb} {art} {noun} {args}.",
    "Time to {verb} {art} {noun} {args}.",
)
_PASSIVE_OPENERS = (
    "I want {art} {noun} {args} {part}.",
    "Please have {art} {noun} {args} {part}.",
    "{art} {noun} {args} needs to be {part}.",
    "Could {art} {noun} {args} be {part}, please?",
    "I'd like {art} {noun} {part}: {args}.",
)
_ROLES = ("manager", "assistant", "accountant", "sister", "landlord", "neighbour", "coach", "business partner")
_CONNECTORS = ("Also, ", "Then ", "And ", "After that, ", "On top of that, ", "Separately, ", "Next, ", "Plus, ")
_CONTEXT = (
    "Last quarter we had a {noun} {phrase}, but that one is closed.",
    "For reference, {person} handled a {noun} {phrase} before; ignore that one.",
    "My colleague mentioned {said} in passing; that is not relevant here.",
    "The old system still shows {said}, which is out of date.",
    "I'm writing from {city} this week.",
    "Note that the previous {noun} was {phrase}.",
    "{person} asked me about this yesterday.",
    "Don't confuse this with the {noun} {phrase} from last month.",
    "Quick background: I'm on the {word} team.",
    "Earlier someone suggested {said}, but we decided against it.",
    "Yesterday you {part} {art} {noun} {phrase}; that one is done.",
    "Do not {verb} the {noun} {phrase}, that is a different one.",
    "Last month {art} {noun} {phrase} was {part} by mistake.",
    "We once had to {verb} {art} {noun} {phrase}, which went fine.",
)
_QUESTIONS = (
    "What is the origin of the word {word}?",
    "Write a two-line poem about {word} and {word2}.",
    "Why is {city} famous?",
    "Who is {person}, and what are they known for?",
    "Explain the difference between a {noun} and a {noun2} in plain words.",
    "How many syllables does {word} have?",
    "What time zone is {city} in?",
    "Give me three tips for writing a good {noun}.",
    "Is it usually colder in {city} or in {city2} in winter?",
    "What does {number} look like in Roman numerals?",
    "Tell me a fun fact about {word}s.",
    "What's a good name for a {word} themed cafe?",
)


@dataclass
class _Context:
    """Sentences around a task's requests: ones a request relies on (who "my accountant" is), and decoys."""

    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)


def _label(attribute: Attribute) -> str:
    return attribute.description.split(".")[0].lower()


def _phrase(attribute: Attribute, value: Any, rng: random.Random) -> str:
    if attribute.yes_no is not None:
        return rng.choice(attribute.yes_no[0] if value else attribute.yes_no[1])
    return rng.choice(attribute.phrases).format(attribute.kind_of().say(value, rng))


def _sample(attribute: Attribute, rng: random.Random, avoid: Any = None) -> Any:
    kind = attribute.kind_of()
    value = kind.sample(rng)
    for _ in range(8):
        if value != avoid:
            break
        value = kind.sample(rng)
    return value


def _request(operation: Operation, obj: BusinessObject, rng: random.Random, context: _Context) -> tuple[str, dict]:
    """One request sentence (maybe with a correction) and its ground-truth entry `{name: {param: [values]}}`."""
    answer: dict[str, list] = {}
    phrases: list[str] = []
    correction = ""
    attributes = attributes_of(operation, obj)
    correctable = [a for a in attributes if a.required and a.yes_no is None and a.kind_of().type != "array"]
    corrected = rng.choice(correctable) if correctable and rng.random() < 0.35 else None
    for attribute in attributes:
        stated = attribute.required or rng.random() < 0.5
        kind = attribute.kind_of()
        if not stated:
            answer[attribute.name] = [""] if attribute.default is None else ["", attribute.default]
            continue
        value = _sample(attribute, rng)
        answer[attribute.name] = kind.accepted(value)
        roles = [r for r in _ROLES if r not in context.roles]
        if kind.name == "person" and attribute is not corrected and roles and rng.random() < 0.3:
            role = rng.choice(roles)
            context.roles[role] = value
            context.required.append(f"My {role} is {value}.")
            phrases.append(rng.choice(attribute.phrases).format(f"my {role}"))
            continue
        if attribute is corrected and rng.random() < 0.5:  # corrected in place: "on May 3, no, May 5,"
            wrong = _sample(attribute, rng, avoid=value)
            fix = rng.choice(("no, sorry, {}", "I mean {}", "or rather {}", "scratch that, {}"))
            phrases.append(f"{_phrase(attribute, wrong, rng)} ({fix.format(kind.say(value, rng))})")
        elif attribute is corrected:
            wrong = _sample(attribute, rng, avoid=value)
            phrases.append(_phrase(attribute, wrong, rng))
            said = kind.say(value, rng)
            correction = rng.choice(
                (
                    f" Actually, make the {_label(attribute)} {said} instead.",
                    f" Sorry, correction: the {_label(attribute)} should be {said}.",
                    f" Wait, not that {_label(attribute)}; use {said}.",
                )
            )
        else:
            phrases.append(_phrase(attribute, value, rng))
        if rng.random() < 0.4:
            other = _sample(attribute, rng, avoid=value)
            context.optional.append(_context(obj, attribute, other, rng))
    rng.shuffle(phrases)
    passive = bool(operation.participle) and rng.random() < 0.3
    template = rng.choice(_PASSIVE_OPENERS if passive else _OPENERS)
    lead = ""
    if "{lead}" in template and phrases:
        lead = phrases.pop(0)
        lead = lead[:1].upper() + lead[1:]
    elif "{lead}" in template:
        template = "{verb} {art} {noun} {args}."
    args = ", ".join(phrases) if ":" in template.split("{args}")[0][-3:] else _join_args(phrases, rng)
    noun = rng.choice(obj.nouns)
    article = "the"
    if operation.name in ("create", "estimate"):
        article = "an" if noun[0] in "aeiou" else "a"
    text = template.format(
        verb=rng.choice(operation.verbs),
        art=article,
        noun=noun,
        args=args,
        lead=lead,
        part=operation.participle,
    )
    text = " ".join(text.split()).replace(" .", ".").replace(" ?", "?").replace(" :", ":")
    return text[:1].upper() + text[1:] + correction, {function_name(operation, obj): answer}


def _join_args(phrases: list[str], rng: random.Random) -> str:
    if len(phrases) < 2:
        return "".join(phrases)
    glue = rng.choice((", ", " ", ", and ", "; "))
    return glue.join(phrases[:-1]) + (" and " if glue != "; " else "; ") + phrases[-1]


def _context(obj: BusinessObject, attribute: Attribute, value: Any, rng: random.Random) -> str:
    """A sentence that mentions a value of the same kind (often in the same phrase) but asks for nothing."""
    template = rng.choice(_CONTEXT)
    operation = rng.choice([op for op in OPERATIONS if op.participle])
    noun = rng.choice(obj.nouns)
    text = template.format(
        verb=rng.choice(operation.verbs),
        part=operation.participle,
        art="an" if noun[0] in "aeiou" else "a",
        noun=noun,
        phrase=_phrase(attribute, value, rng),
        said=attribute.kind_of().say(value, rng) if attribute.yes_no is None else _phrase(attribute, value, rng),
        person=rng.choice(PEOPLE),
        city=rng.choice(CITIES),
        word=rng.choice(WORDS),
    )
    return text[:1].upper() + text[1:]


def _compose(requests: list[str], context: _Context, rng: random.Random) -> str:
    """The requests joined by connectors, with the notes they rely on and up to three decoys around them."""
    body = [requests[0]]
    for sentence in requests[1:]:
        connector = rng.choice(_CONNECTORS)
        keep_case = sentence.startswith(("I ", "I'"))
        body.append(connector + (sentence if keep_case else sentence[0].lower() + sentence[1:]))
    notes = context.required + rng.sample(context.optional, min(len(context.optional), rng.randint(0, 3)))
    rng.shuffle(notes)
    before = notes[: rng.randint(0, len(notes))]
    after = notes[len(before) :]
    return " ".join([*before, *body, *after])


def _task(category: str, functions: list[tuple[Operation, BusinessObject]], text: str, answers: list[dict]) -> dict:
    docs = [function_schema(op, obj) for op, obj in functions]
    conversation = [{"role": "user", "content": text}]
    return {
        "family": "toolcall",
        "category": category,
        "source": "generated",
        "functions": docs,
        "tools": openai_tools(docs),
        "messages": toolcall_messages(docs, conversation),
        "possible_answer": answers,
    }


def _neighbours(target: tuple[Operation, BusinessObject], k: int, rng: random.Random) -> list:
    """Distractors: mostly other operations on the same object (the verb decides), some from other objects."""
    same = [(op, target[1]) for op in OPERATIONS if op is not target[0]]
    other = [f for f in FUNCTIONS if f[1] is not target[1]]
    picked = rng.sample(same, min(k, len(same)))
    if picked and rng.random() < 0.5:
        picked[-1] = rng.choice(other)
    return picked


def _irrelevant(rng: random.Random) -> tuple[list, str]:
    """Functions and a request none of them fulfils."""
    obj = rng.choice(OBJECTS)
    offered_ops = rng.sample(list(OPERATIONS), rng.randint(1, 3))
    offered = [(op, obj) for op in offered_ops]
    style = rng.random()
    if style < 0.4:  # an operation on the same object that is not offered
        missing = rng.choice([op for op in OPERATIONS if op not in offered_ops])
        context = _Context()
        text = _compose([_request(missing, obj, rng, context)[0]], context, rng)
    elif style < 0.7:  # an offered operation on an object that is not offered
        context = _Context()
        other = rng.choice([o for o in OBJECTS if o is not obj])
        text = _compose([_request(offered_ops[0], other, rng, context)[0]], context, rng)
    else:
        text = rng.choice(_QUESTIONS).format(
            word=rng.choice(WORDS),
            word2=rng.choice(WORDS),
            city=rng.choice(CITIES),
            city2=rng.choice(CITIES),
            person=rng.choice(PEOPLE),
            noun=rng.choice(obj.nouns),
            noun2=rng.choice(rng.choice(OBJECTS).nouns),
            number=number_word(rng.randint(11, 99)),
        )
    rng.shuffle(offered)
    return offered, text


def generate_one(category: str, rng: random.Random) -> dict:
    notes = _Context()
    if category == "simple":
        target = rng.choice(FUNCTIONS)
        text, answer = _request(*target, rng, notes)
        return _task(category, [target], _compose([text], notes, rng), [answer])
    if category == "multiple":
        target = rng.choice(FUNCTIONS)
        functions = [target, *_neighbours(target, rng.randint(1, 3), rng)]
        text, answer = _request(*target, rng, notes)
        rng.shuffle(functions)
        return _task(category, functions, _compose([text], notes, rng), [answer])
    if category == "parallel":
        target = rng.choice(FUNCTIONS)
        rendered = [_request(*target, rng, notes) for _ in range(rng.randint(2, 3))]
        return _task(category, [target], _compose([r[0] for r in rendered], notes, rng), [r[1] for r in rendered])
    if category == "parallel_multiple":
        first = rng.choice(FUNCTIONS)
        functions = [first, *_neighbours(first, rng.randint(2, 3), rng)]
        called = rng.sample(functions, rng.randint(2, len(functions)))
        rendered = [_request(*f, rng, notes) for f in called]
        rng.shuffle(functions)
        return _task(category, functions, _compose([r[0] for r in rendered], notes, rng), [r[1] for r in rendered])
    if category == "irrelevance":
        functions, text = _irrelevant(rng)
        return _task(category, functions, text, [])
    raise ValueError(f"unknown tool-call category {category!r}")


def generate(n: int, weights: dict[str, float], rng: random.Random) -> list[dict[str, Any]]:
    categories = sorted(c for c, w in weights.items() if w > 0)
    chosen = rng.choices(categories, weights=[weights[c] for c in categories], k=n)
    return [generate_one(category, rng) for category in chosen]
