"""Accurate captions in the many ways people write them, from a scene's truth, and the same with one fact wrong.

This writer is independent of `caption_gen.describe` (which writes the references): it picks a style (terse,
list-like, one plain sentence, positional, narrative, detailed), a spelling (British or American) and, for each
fact, one of many phrasings, all from the scene's truth and a seeded rng. It is the fairness set of issue 25: a
reader that scores these low is unfair to honest models, whatever it does to attackers.

`with_one_fact_wrong` changes one fact of the truth (a group's colour, shape or count, the background colour or
texture, a relation, the printed word) and writes the caption of that changed truth with the same rng seed, so the
two captions differ in that fact and as little else as the wording allows.
"""

from __future__ import annotations

import copy
import functools
import itertools
import random
import statistics
from collections.abc import Callable
from pathlib import Path

from harness.tasks import caption_gen
from scoring.caption_facts import check
from tests.support.caption_attacks import PROMPT

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")


class Speller:
    """British or American spelling of the few words that differ."""

    def __init__(self, british: bool) -> None:
        self.british = british

    def __call__(self, word: str) -> str:
        pairs = {"colour": "color", "grey": "gray", "centre": "center", "chequered": "checkered"}
        return word if self.british else pairs.get(word, word)

    def text(self, text: str) -> str:
        if self.british:
            return text
        for british, american in (("colour", "color"), ("grey", "gray"), ("centre", "center")):
            text = text.replace(british, american)
        return text.replace("chequered", "checkered")


def _groups(truth: dict) -> list[dict]:
    return [
        {"name": name, "colour": name.split()[0], "shape": name.split()[1], "count": n, "size": truth["sizes"][name]}
        for name, n in truth["counts"].items()
    ]


def _order(truth: dict) -> list[str]:
    """The groups in reading order (left to right, or top to bottom); the companion shape is not in the chain."""
    chain = [r for r in truth["relations"] if r["relation"] in ("left of", "above")]
    if not chain:
        hosts = [r["object"] for r in truth["relations"] if r["relation"] in ("inside", "overlapping")]
        return hosts or [next(iter(truth["counts"]))]
    order = [chain[0]["subject"]]
    for relation in chain:
        order.append(relation["object"])
    return order


def _companion(truth: dict) -> dict | None:
    return next((r for r in truth["relations"] if r["relation"] in ("inside", "overlapping")), None)


def _noun(shape: str, count: int, rng: random.Random) -> str:
    synonyms = {"cross": ("cross", "cross", "plus sign"), "diamond": ("diamond", "diamond", "rhombus")}
    word = rng.choice(synonyms.get(shape, (shape,)))
    if count == 1:
        return word
    if word == "plus sign":
        return "plus signs"
    if word == "rhombus":
        return "rhombuses"
    return caption_gen.plural(word, count)


def _amount(count: int, rng: random.Random, style: str) -> str:
    if style == "terse" and rng.random() < 0.6:
        return str(count)
    if count == 1:
        return rng.choice(("a", "a", "one", "a single", "one lone"))
    if count == 2 and rng.random() < 0.3:
        return rng.choice(("a pair of", "a couple of"))
    return _NUMBERS[count] if rng.random() < 0.75 else str(count)


def _group(g: dict, rng: random.Random, sp: Speller, style: str = "", definite: bool = False) -> str:
    """One group: "two small red circles", "3 squares, all green", "a star coloured blue", "the red circles"."""
    noun = _noun(g["shape"], g["count"], rng)
    size = ""
    if rng.random() < 0.3:
        size = {"small": rng.choice(("small", "tiny", "little")), "large": rng.choice(("large", "big"))}.get(
            g["size"], "medium-sized"
        ) + " "
    if definite:
        return f"the {size}{g['colour']} {noun}"
    amount = _amount(g["count"], rng, style)
    roll = rng.random()
    if roll < 0.12 and g["count"] > 1:
        return f"{amount} {size}{noun}, all {g['colour']}"
    if roll < 0.2:
        link = rng.choice((f"{sp('colour')}ed", "in", "that are" if g["count"] > 1 else "that is"))
        return f"{amount} {size}{noun} {link} {g['colour']}"
    return f"{amount} {size}{g['colour']} {noun}"


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    comma = "," if len(parts) > 2 and rng.random() < 0.5 else ""
    return ", ".join(parts[:-1]) + f"{comma} and " + parts[-1]


def _background_colour(truth: dict, rng: random.Random, sp: Speller) -> str:
    options = {
        "white": ("white", "white", "plain white" if truth["texture"] == "plain" else "white"),
        "light grey": (sp("light grey"), sp("pale grey"), sp("light grey")),
        "pale blue": ("pale blue", "light blue", "very light blue"),
        "pale yellow": ("pale yellow", "light yellow", "pale yellow"),
        "pale green": ("pale green", "light green", "pale green"),
    }
    return rng.choice(options[truth["background"]])


def _background(truth: dict, rng: random.Random, sp: Speller, texture: bool = True) -> str:
    """ "on a pale blue background with thin stripes", "against a chequered white backdrop", "on plain white"."""
    colour = _background_colour(truth, rng, sp)
    noun = rng.choice(("background", "background", "backdrop"))
    kind = truth["texture"] if texture else "plain"
    before = {
        "plain": ("", "", "plain "),
        "striped": ("striped ", "stripy ", "diagonally striped "),
        "dotted": ("dotted ", "polka-dot ", "spotted "),
        "checkered": (sp("chequered") + " ", "checked ", "checkerboard "),
    }[kind]
    after = {
        "plain": ("",),
        "striped": (" with stripes", " with thin diagonal stripes", " with faint darker stripes"),
        "dotted": (" with small dots", " covered in little dots", " with a dotted pattern"),
        "checkered": (" with a check pattern", " with a faint checkerboard pattern", " in a checked pattern"),
    }[kind]
    prep = rng.choice(("on", "on", "against", "set on", "over"))
    roll = rng.random()
    if roll < 0.5:
        return f"{prep} a {rng.choice(before)}{colour} {noun}"
    if roll < 0.85 or kind == "plain":
        return f"{prep} a {colour} {noun}{rng.choice(after)}"
    return f"{prep} {colour}{rng.choice(after)}"


def _background_sentence(truth: dict, rng: random.Random, sp: Speller) -> str:
    colour = _background_colour(truth, rng, sp)
    texture = {
        "plain": ("", " and plain", ""),
        "striped": (" with stripes", " and striped", ", with diagonal stripes"),
        "dotted": (" with dots", " and dotted", ", covered in small dots"),
        "checkered": (" with a check pattern", " and " + sp("chequered"), ", in a checkerboard pattern"),
    }[truth["texture"]]
    return rng.choice(
        (
            f"The background is {colour}{rng.choice(texture)}.",
            f"Behind them is a {colour} background{rng.choice(texture)}.",
            f"It's all on a {colour} backdrop{rng.choice(texture)}.",
        )
    )


def _relation(relation: dict, groups: dict[str, dict], rng: random.Random, sp: Speller) -> str:
    a = _group(groups[relation["subject"]], rng, sp, definite=True)
    b = _group(groups[relation["object"]], rng, sp, definite=True)
    verb_a = "are" if groups[relation["subject"]]["count"] > 1 else "is"
    verb_b = "are" if groups[relation["object"]]["count"] > 1 else "is"
    options = {
        "left of": (
            f"{a} {verb_a} to the left of {b}",
            f"{b} {verb_b} to the right of {a}",
            f"{b} {verb_b} on the right of {a}",
            f"{a} {verb_a} left of {b}",
            f"to the right of {a} {verb_b} {b}",
        ),
        "above": (
            f"{a} {verb_a} above {b}",
            f"{b} {verb_b} below {a}",
            f"{b} {verb_b} underneath {a}",
            f"{b} {'sit' if verb_b == 'are' else 'sits'} beneath {a}",
            f"under {a} {verb_b} {b}",
        ),
        "inside": (f"{a} {verb_a} inside {b}", f"{a} sits within {b}", f"{b} contains {a}"),
        "overlapping": (f"{a} overlaps {b}", f"{b} overlaps {a}", f"{a} and {b} overlap", f"{a} partly covers {b}"),
    }[relation["relation"]]
    return rng.choice(options)


def _text(word: str, rng: random.Random) -> str:
    shown = word if rng.random() < 0.8 else word.capitalize()
    return rng.choice(
        (
            f'The word "{shown}" is printed at the bottom.',
            f"Underneath, the text reads {word}.",
            f"At the bottom it says '{word}'.",
            f'There is text at the bottom: "{shown}".',
            f"The caption along the bottom says {shown}.",
            f"{word} is written below the shapes.",
        )
    )


def _with_companion(truth: dict, groups: dict[str, dict], host: str, rng: random.Random, sp: Speller, style: str):
    """The host group's phrase with its companion attached, or the host alone when there is none."""
    companion = _companion(truth)
    if companion is None or companion["object"] != host:
        return _group(groups[host], rng, sp, style)
    h, g = _group(groups[host], rng, sp, style), _group(groups[companion["subject"]], rng, sp, style)
    if companion["relation"] == "inside":
        return rng.choice(
            (
                f"{h} with {g} inside it",
                f"{h} with {g} inside",
                f"{h} with {g} in its {sp('centre')}",
                f"{h} containing {g}",
            )
        )
    return rng.choice((f"{h} overlapped by {g}", f"{h} with {g} overlapping it", f"{h} and {g} overlapping"))


def _main_content(truth: dict, rng: random.Random, sp: Speller, style: str = "") -> str:
    groups = {g["name"]: g for g in _groups(truth)}
    order = _order(truth)
    if rng.random() < 0.4:
        order = order[::-1]
    return _join([_with_companion(truth, groups, name, rng, sp, style) for name in order], rng)


def one_sentence(truth: dict, rng: random.Random, sp: Speller) -> str:
    """What "describe this image in one short sentence" asks for: the groups and the background."""
    opener = rng.choice(("", "", "A picture of ", "An image with ", "There are ", "This shows "))
    body = f"{opener}{_main_content(truth, rng, sp)} {_background(truth, rng, sp, texture=rng.random() < 0.6)}."
    return body[0].upper() + body[1:]


def terse(truth: dict, rng: random.Random, sp: Speller) -> str:
    groups = {g["name"]: g for g in _groups(truth)}
    parts = [_with_companion(truth, groups, name, rng, sp, "terse") for name in _order(truth)]
    colour = _background_colour(truth, rng, sp)
    texture = {"plain": "", "striped": "striped ", "dotted": "dotted ", "checkered": "checked "}[truth["texture"]]
    caption = ", ".join(parts) + f"; {texture}{colour} background"
    if truth["text"] and rng.random() < 0.7:
        caption += rng.choice((f', text "{truth["text"]}"', f", word {truth['text']}"))
    return caption[0].upper() + caption[1:] + rng.choice((".", ""))


def list_like(truth: dict, rng: random.Random, sp: Speller) -> str:
    groups = {g["name"]: g for g in _groups(truth)}
    shapes = "; ".join(_with_companion(truth, groups, name, rng, sp, "terse") for name in _order(truth))
    texture = {"plain": "plain", "striped": "striped", "dotted": "dotted", "checkered": sp("chequered")}
    lines = [f"Shapes: {shapes}.", f"Background: {_background_colour(truth, rng, sp)}, {texture[truth['texture']]}."]
    if truth["layout"] == "row" and len(_order(truth)) > 1:
        lines.append("Arranged left to right.")
    elif len(_order(truth)) > 1:
        lines.append("Stacked from top to bottom.")
    if truth["text"]:
        lines.append(f'Text: "{truth["text"]}".')
    return " ".join(lines)


def positional(truth: dict, rng: random.Random, sp: Speller) -> str:
    groups = {g["name"]: g for g in _groups(truth)}
    order = _order(truth)
    if len(order) == 1:
        return detailed(truth, rng, sp)
    if truth["layout"] == "row":
        places = {2: ("on the left", "on the right"), 3: ("on the left", f"in the {sp('centre')}", "on the right")}
    else:
        places = {2: ("at the top", "at the bottom"), 3: ("at the top", "in the middle", "at the bottom")}
    spots = places[len(order)]
    parts = []
    for place, name in zip(spots, order, strict=True):
        phrase = _with_companion(truth, groups, name, rng, sp, "")
        parts.append(f"{place}, {phrase}" if rng.random() < 0.5 else f"{phrase} {place}")
    first = _join(parts, rng)
    sentences = [first[0].upper() + first[1:] + "."]
    sentences.append(_background_sentence(truth, rng, sp))
    if truth["text"]:
        sentences.append(_text(truth["text"], rng))
    return " ".join(sentences)


def narrative(truth: dict, rng: random.Random, sp: Speller) -> str:
    groups = {g["name"]: g for g in _groups(truth)}
    order = _order(truth)
    opener = rng.choice(("In this picture we can see ", "The image shows ", "Here we have ", "I can see "))
    sentences = [f"{opener}{_with_companion(truth, groups, order[0], rng, sp, '')}."]
    for previous, name in itertools.pairwise(order):
        phrase = _with_companion(truth, groups, name, rng, sp, "")
        if truth["layout"] == "row":
            lead = rng.choice(
                ("To the right of them", "To their right", "Next to that, on the right,", "Right of them")
            )
            if groups[previous]["count"] == 1:
                lead = lead.replace("their right", "its right").replace("them", "it")
        else:
            lead = rng.choice(("Below that", "Beneath them", "Underneath", "Further down"))
            if groups[previous]["count"] == 1:
                lead = lead.replace("them", "it")
        verb = "are" if groups[name]["count"] > 1 else "is"
        sentences.append(f"{lead} {verb} {phrase}.")
    sentences.append(_background_sentence(truth, rng, sp))
    if truth["text"]:
        sentences.append(_text(truth["text"], rng))
    return " ".join(sentences)


def detailed(truth: dict, rng: random.Random, sp: Speller) -> str:
    groups = {g["name"]: g for g in _groups(truth)}
    order = _order(truth)
    first = f"{_main_content(truth, rng, sp)} {_background(truth, rng, sp)}."
    sentences = [first[0].upper() + first[1:]]
    chain = [r for r in truth["relations"] if r["relation"] in ("left of", "above")]
    if chain and rng.random() < 0.35:
        direction = "from left to right" if truth["layout"] == "row" else "from top to bottom"
        names = ", ".join(_group(groups[n], rng, sp, definite=True) for n in order)
        sentences.append(f"{direction.capitalize()} they are {names}.")
    elif chain:
        said = _join([_relation(r, groups, rng, sp) for r in chain], rng)
        sentences.append(said[0].upper() + said[1:] + ".")
    if truth["text"]:
        sentences.append(_text(truth["text"], rng))
    return " ".join(sentences)


STYLES: dict[str, Callable[[dict, random.Random, Speller], str]] = {
    "one-sentence": one_sentence,
    "terse": terse,
    "list-like": list_like,
    "positional": positional,
    "narrative": narrative,
    "detailed": detailed,
}


# Styles that state where the groups are relative to one another (the others only list them).
STATES_ORDER = {"list-like", "positional", "narrative", "detailed"}


def natural_caption(truth: dict, seed: str) -> tuple[str, str]:
    """(style, caption): an accurate caption of `truth` in a style and wording chosen by `seed`."""
    rng = random.Random(seed)
    style = rng.choice(sorted(STYLES))
    speller = Speller(british=rng.random() < 0.5)
    return style, speller.text(STYLES[style](truth, rng, speller))


# ---------------------------------------------------------------------------------------------------- one fact wrong


def _rename(truth: dict, old: str, new: str) -> dict:
    wrong = copy.deepcopy(truth)
    for field in ("counts", "sizes"):
        wrong[field] = {(new if k == old else k): v for k, v in wrong[field].items()}
    for relation in wrong["relations"]:
        for side in ("subject", "object"):
            if relation[side] == old:
                relation[side] = new
    return wrong


def _mutations(truth: dict, rng: random.Random) -> list[tuple[str, dict]]:
    """Every single-fact change of the truth, each as (kind, changed truth)."""
    out = []
    names = list(truth["counts"])
    name = rng.choice(names)
    colour, shape = name.split()
    used_colours = {n.split()[0] for n in names} | {truth["background"].split()[-1]}
    free_colours = [c for c in caption_gen.COLOURS if c not in used_colours]
    out.append(("colour", _rename(truth, name, f"{rng.choice(free_colours)} {shape}")))
    free_shapes = [s for s in caption_gen.SHAPES if s not in {n.split()[1] for n in names}]
    out.append(("shape", _rename(truth, name, f"{colour} {rng.choice(free_shapes)}")))
    wrong = copy.deepcopy(truth)
    count = wrong["counts"][name]
    wrong["counts"][name] = count + 1 if count < 5 and (count == 1 or rng.random() < 0.5) else count - 1
    out.append(("count", wrong))
    wrong = copy.deepcopy(truth)
    wrong["background"] = rng.choice([b for b in caption_gen.BACKGROUNDS if b != truth["background"]])
    out.append(("background", wrong))
    wrong = copy.deepcopy(truth)
    wrong["texture"] = rng.choice([t for t in caption_gen.TEXTURES if t not in (truth["texture"], "plain")])
    out.append(("texture", wrong))
    chain = [r for r in truth["relations"] if r["relation"] in ("left of", "above")]
    if chain:
        # Two neighbours change places: the caption orders them the wrong way round.
        wrong = copy.deepcopy(truth)
        order = _order(truth)
        k = rng.randrange(len(order) - 1)
        order[k], order[k + 1] = order[k + 1], order[k]
        kept = [r for r in wrong["relations"] if r["relation"] not in ("left of", "above")]
        chain_name = chain[0]["relation"]
        wrong["relations"] = [
            {"subject": a, "relation": chain_name, "object": b} for a, b in itertools.pairwise(order)
        ] + kept
        out.append(("relation", wrong))
    companion = _companion(truth)
    if companion:
        # An overlapping shape said to be inside, or the host said to be inside its guest.
        wrong = copy.deepcopy(truth)
        for relation in wrong["relations"]:
            if relation["relation"] == "overlapping":
                relation["relation"] = "inside"
            elif relation["relation"] == "inside":
                relation["subject"], relation["object"] = relation["object"], relation["subject"]
        out.append(("companion", wrong))
    if truth["text"]:
        wrong = copy.deepcopy(truth)
        wrong["text"] = rng.choice([w for w in caption_gen.WORDS if w != truth["text"]])
        out.append(("text", wrong))
    return out


def with_one_fact_wrong(truth: dict, seed: str) -> tuple[str, str] | None:
    """(kind, caption): the caption `natural_caption(truth, seed)` with one fact changed, or None when no change
    the caption states is possible. The changed fact is one the accurate caption states."""
    style, accurate = natural_caption(truth, seed)
    rng = random.Random(f"wrong-{seed}")
    mutations = _mutations(truth, rng)
    rng.shuffle(mutations)
    for kind, wrong in mutations:
        if kind == "relation" and style not in STATES_ORDER:
            continue  # listing the groups in another order says nothing about where they are
        _, caption = natural_caption(wrong, seed)
        if caption != accurate:
            return kind, caption
    return None


# ------------------------------------------------------------------------------ the fairness set of issue 25

FAIRNESS_SEED = "caption-fairness-issue-25"
N_SCENES = 120
HANDWRITTEN = Path(__file__).with_name("caption_handwritten.txt")  # written by hand for the first 20 scenes
HANDWRITTEN_SEED = "hand-written-k"


@functools.cache
def fairness_tasks() -> list[dict]:
    return caption_gen.generate(N_SCENES, random.Random(FAIRNESS_SEED), 96, PROMPT)


def natural_captions(tasks: list[dict]) -> list[tuple[str, str]]:
    return [natural_caption(t["truth"], f"{FAIRNESS_SEED}-{i}") for i, t in enumerate(tasks)]


def searched_blind_caption(n_train: int = 60) -> str:
    """The best fixed caption a miner could find on scenes of its own (a seed apart from the test's): the most
    rewarding background, then shape, then colour and count, each chosen greedily by the fact check."""
    rng = random.Random("blind-search-train")
    truths = [caption_gen.render_scene(rng, 64)[1] for _ in range(n_train)]

    def worth(caption: str) -> float:
        return statistics.mean(check(caption, t).content for t in truths)

    backgrounds = [f"on a {b} background" for b in caption_gen.BACKGROUNDS]
    best = max((f"A picture {b}." for b in backgrounds), key=worth)
    background = best[len("A picture ") : -1]
    shapes = [f"A {s} {background}." for s in caption_gen.SHAPES]
    best = max([best, *shapes], key=worth)
    if best in shapes:
        shape = best.split()[1]
        best = max([best, *(f"A {c} {shape} {background}." for c in caption_gen.COLOURS)], key=worth)
        words = best.split()
        counted = [" ".join([n, *words[1:-3], caption_gen.plural(shape, 2), *words[-3:]]) for n in ("Two", "Three")]
        best = max([best, *counted], key=worth)
    return best
