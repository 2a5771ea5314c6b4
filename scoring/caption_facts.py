"""Which facts does a caption assert, and which of them are true of the scene?

A caption is read as a list of shape mentions (`two small red circles`, `the star`), colours said without a
shape, a background (`on a pale blue background`, `the background is white`), a texture (`striped`), relations
between mentions (`the red circle is to the left of the blue star`) and printed text (`the word "STOP"`). Each
asserted fact is checked against the scene's ground truth (see harness/tasks/caption_gen.py `truth_of`):

- precision: the weight of true facts over the weight of all asserted facts; a wrong fact costs as much as a
  right one earns, so hedging ("a red, blue or green circle") and guessing lose;
- recall: the weight of the truth's facts the caption states (every group's colour+shape and count, the
  relations between groups, the background colour, a non-plain texture, the text);
- content = precision x recall: zero when nothing true is said, and zero when nothing is said at all.

The reader is deliberately a small keyword parser, not a model: its rules are public, and a miner who games it
must write captions that state the true facts, which is the task. What it does not understand (a colour after
its noun, "the one on the left") is simply not counted: unread facts lower recall, never precision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

COLOUR_WORDS = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "yellow": "yellow",
    "purple": "purple",
    "violet": "purple",
    "orange": "orange",
    "black": "black",
    "pink": "pink",
    "brown": "brown",
    "grey": "grey",
    "gray": "grey",
    "white": "white",
}
_SHAPE_FORMS = {
    "circle": ("circle", "circles", "disc", "discs", "disk", "disks", "oval", "ovals"),
    "square": ("square", "squares", "rectangle", "rectangles"),
    "triangle": ("triangle", "triangles"),
    "star": ("star", "stars"),
    "diamond": ("diamond", "diamonds", "rhombus", "rhombuses", "rhombi", "lozenge", "lozenges"),
    "hexagon": ("hexagon", "hexagons"),
    "pentagon": ("pentagon", "pentagons"),
    "cross": ("cross", "crosses", "plus", "pluses"),
}
SHAPE_WORDS = {form: shape for shape, forms in _SHAPE_FORMS.items() for form in forms}
_SINGULAR_FORMS = {"circle", "disc", "disk", "oval", "square", "rectangle", "triangle", "star", "diamond", "rhombus"}
_SINGULAR_FORMS |= {"lozenge", "hexagon", "pentagon", "cross", "plus"}
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "lone": 1,
    "two": 2,
    "pair": 2,
    "couple": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
SIZE_WORDS = {
    "small": "small",
    "tiny": "small",
    "little": "small",
    "medium": "medium",
    "large": "large",
    "big": "large",
    "huge": "large",
}
TEXTURE_WORDS = {
    "plain": "plain",
    "solid": "plain",
    "striped": "striped",
    "stripes": "striped",
    "stripy": "striped",
    "dotted": "dotted",
    "dots": "dotted",
    "spotted": "dotted",
    "polka": "dotted",
    "checkered": "checkered",
    "chequered": "checkered",
    "checked": "checkered",
    "checkerboard": "checkered",
    "grid": "checkered",
}
BACKGROUND_NOUNS = {"background", "backdrop", "backround"}
_PATTERN_NOUNS = {"pattern", "patterned", "texture", "textured"}
_LINKING_WORDS = {"that", "which", "is", "are", "in", "coloured", "colored", "all", "both"}
# Word sequences naming a relation: (relation, whether subject and object swap).
RELATION_PHRASES = {
    ("left", "of"): ("left of", False),
    ("right", "of"): ("left of", True),
    ("above",): ("above", False),
    ("over",): ("above", False),
    ("on", "top", "of"): ("above", False),
    ("below",): ("above", True),
    ("under",): ("above", True),
    ("beneath",): ("above", True),
    ("underneath",): ("above", True),
    ("inside",): ("inside", False),
    ("within",): ("inside", False),
    ("contains",): ("inside", True),
    ("containing",): ("inside", True),
    ("overlaps",): ("overlapping", False),
    ("overlapping",): ("overlapping", False),
    ("overlap",): ("overlapping", False),
    ("overlapped",): ("overlapping", False),
}
_TEXT_CUES = {"word", "text", "says", "reads", "reading", "written", "label", "labelled", "labeled", "letters"}
_BACKGROUND_SKIP = {"a", "an", "the", "plain", "light", "pale", "solid", "soft", "bright", "dark", "coloured"}
_BACKGROUND_SKIP |= set(TEXTURE_WORDS)

# Weights: what a fact is worth when true, and what it costs when false.
WEIGHT_ENTITY = 2.0  # a group named by colour and shape
WEIGHT_SHAPE_ONLY = 1.0
WEIGHT_COUNT = 1.0
WEIGHT_COLOUR_ONLY = 1.0
WEIGHT_SIZE = 0.25  # sizes are relative and not required, so they can cost but earn little
WEIGHT_RELATION = 1.0
WEIGHT_BACKGROUND = 1.0
WEIGHT_TEXTURE = 0.5
WEIGHT_TEXT = 1.0

_TOKEN = re.compile(r"[a-z]+|\d+")
_SENTENCE_END = re.compile(r"[.;!?]+(?:\s|$)")
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{1,40})[\"“”«»]")
_CAPS_WORD = re.compile(r"\b[A-Z]{2,}\b")


@dataclass(frozen=True)
class Mention:
    shape: str
    colour: str | None
    count: int | None
    size: str | None
    start: int  # token index of the first word of the phrase
    end: int  # token index of the shape word


@dataclass
class Facts:
    """What a caption asserts, in the truth's terms."""

    mentions: list[Mention] = field(default_factory=list)
    colours: set[str] = field(default_factory=set)  # colours said without a shape or background
    backgrounds: set[str] = field(default_factory=set)
    textures: set[str] = field(default_factory=set)
    relations: set[tuple[str, str, str]] = field(default_factory=set)  # (subject kind, relation, object kind)
    unresolved_relations: int = 0  # a relation between mentions that name no group of the scene
    texts: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class FactCheck:
    precision: float
    recall: float
    content: float
    correct: float
    wrong: float
    asserted: int  # number of distinct facts read from the caption
    misses: tuple[str, ...]  # truth facts the caption did not state (for diagnostics)
    errors: tuple[str, ...]  # asserted facts that are false


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token) if len(token) <= 3 else None
    return NUMBER_WORDS.get(token)


def _relation_at(tokens: list[str], i: int) -> tuple[int, str, bool] | None:
    for phrase, (name, swap) in RELATION_PHRASES.items():
        if tuple(tokens[i : i + len(phrase)]) == phrase:
            return len(phrase), name, swap
    return None


def _background_colour(tokens: list[str], j: int, used: set[int]) -> str | None:
    """The colour of a background noun at j: `light grey background` or `background is white`."""
    k = j - 1
    while k >= 0 and j - k <= 4 and (tokens[k] in _BACKGROUND_SKIP or tokens[k] in COLOUR_WORDS):
        if tokens[k] in COLOUR_WORDS:
            used.add(k)
            return COLOUR_WORDS[tokens[k]]
        k -= 1
    if j + 1 < len(tokens) and tokens[j + 1] in {"is", "was", "colour", "color", "of"}:
        for k in range(j + 2, min(len(tokens), j + 5)):
            if tokens[k] in COLOUR_WORDS:
                used.add(k)
                return COLOUR_WORDS[tokens[k]]
    return None


def _read_sentence(tokens: list[str], facts: Facts, resolve: Callable[[Mention], str | None]) -> None:
    used: set[int] = set()
    for j, token in enumerate(tokens):
        if token in BACKGROUND_NOUNS:
            colour = _background_colour(tokens, j, used)
            if colour:
                facts.backgrounds.add(colour)
    mentions: list[Mention] = []
    relation_marks: list[tuple[int, int, str, bool]] = []
    boundary = -1
    i = 0
    while i < len(tokens):
        token = tokens[i]
        relation = _relation_at(tokens, i)
        if relation:
            length, name, swap = relation
            relation_marks.append((i, i + length, name, swap))
            boundary = i + length - 1
            i += length
            continue
        if token in BACKGROUND_NOUNS:
            boundary = i
        elif token in SHAPE_WORDS:
            colour = size = None
            count = None
            start = i
            for k in range(i - 1, max(boundary, i - 5), -1):
                word = tokens[k]
                if word in COLOUR_WORDS and colour is None and k not in used:
                    colour, start = COLOUR_WORDS[word], k
                    used.add(k)
                elif word in SIZE_WORDS and size is None:
                    size, start = SIZE_WORDS[word], k
                elif _number(word) is not None and count is None:
                    count, start = _number(word), k
                    break
                elif word in SHAPE_WORDS or word in {"and", "or", "with", "beside", "next", "near", "of"}:
                    break
            if count == 1 and token not in _SINGULAR_FORMS:
                count = None  # "a pair of" / "a few" read wrongly; do not guess
            if colour is None:
                colour = _colour_after(tokens, i, used)
            mentions.append(Mention(SHAPE_WORDS[token], colour, count, size, start, i))
            boundary = i
        i += 1
    for k, token in enumerate(tokens):
        if token in COLOUR_WORDS and k not in used:
            facts.colours.add(COLOUR_WORDS[token])
        if token in TEXTURE_WORDS and _near_background(tokens, k):
            facts.textures.add(TEXTURE_WORDS[token])
    facts.mentions.extend(mentions)
    for start, end, name, swap in relation_marks:
        before = [m for m in mentions if m.end < start]
        after = [m for m in mentions if m.start >= end]
        if not before or not after:
            continue
        subject, obj = before[-1], after[0]
        if swap:
            subject, obj = obj, subject
        a, b = resolve(subject), resolve(obj)
        if a is None or b is None:
            facts.unresolved_relations += 1
        else:
            facts.relations.add((a, name, b))


def _colour_after(tokens: list[str], i: int, used: set[int]) -> str | None:
    """A colour said after its noun: "circles that are red", "the star is blue", "squares in green"."""
    for k in range(i + 1, min(len(tokens), i + 4)):
        if tokens[k] in COLOUR_WORDS and k not in used and not _near_background(tokens, k, BACKGROUND_NOUNS):
            used.add(k)
            return COLOUR_WORDS[tokens[k]]
        if tokens[k] not in _LINKING_WORDS:
            return None
    return None


def _near_background(tokens: list[str], k: int, nouns: set[str] = BACKGROUND_NOUNS | _PATTERN_NOUNS) -> bool:
    """Texture words describe the background only next to it: "two red dots" are shapes, not a dotted backdrop."""
    return any(t in nouns for t in tokens[max(0, k - 3) : k + 4])


def _texts(caption: str) -> set[str]:
    found = {q.strip().upper() for q in _QUOTED.findall(caption) if q.strip()}
    letters = [c for c in caption if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) < 0.5 * len(letters):
        found |= set(_CAPS_WORD.findall(caption))
    return found


def read_facts(caption: str, truth: dict) -> Facts:
    """The facts `caption` asserts. `truth` only names the scene's groups so that "the star" can be resolved."""
    by_shape = {name.split(" ", 1)[1]: name for name in truth["counts"]}

    def resolve(mention: Mention) -> str | None:
        if mention.colour is not None:
            name = f"{mention.colour} {mention.shape}"
            return name if name in truth["counts"] else None
        return by_shape.get(mention.shape)

    facts = Facts()
    for sentence in _sentences(caption):
        _read_sentence(_tokens(sentence), facts, resolve)
    facts.texts = _texts(caption)
    tokens = _tokens(caption)
    for k, token in enumerate(tokens):
        if token in _TEXT_CUES:
            facts.texts |= {t.upper() for t in tokens[k + 1 : k + 4] if t.upper() in _known_words(truth)}
    return facts


def _known_words(truth: dict) -> set[str]:
    return {truth["text"]} if truth.get("text") else set()


def _base_colour(background: str) -> str:
    return background.split()[-1]


def _closure(relations: list[dict]) -> set[tuple[str, str, str]]:
    """True relations including the ones that follow from a chain (a left of b, b left of c: a left of c)."""
    true = {(r["subject"], r["relation"], r["object"]) for r in relations}
    true |= {(o, "overlapping", s) for s, rel, o in true if rel == "overlapping"}
    changed = True
    while changed:
        extra = {
            (a, r1, d) for a, r1, b in true for c, r2, d in true if r1 == r2 and b == c and r1 in ("left of", "above")
        }
        changed = not extra <= true
        true |= extra
    return true


def check(caption: str, truth: dict) -> FactCheck:
    """Precision, recall and content of `caption` against `truth` (see the module doc)."""
    facts = read_facts(caption, truth)
    counts: dict[str, int] = truth["counts"]
    sizes: dict[str, str] = truth.get("sizes", {})
    by_shape = {name.split(" ", 1)[1]: name for name in counts}
    colours = {name.split(" ", 1)[0] for name in counts}
    right: dict[str, float] = {}
    wrong: dict[str, float] = {}
    covered: dict[str, float] = {}  # truth fact -> weight of it the caption stated

    def judge(key: str, ok: bool, weight: float, covers: str | None = None, cover: float | None = None) -> None:
        (right if ok else wrong)[key] = weight
        if ok and covers is not None:
            covered[covers] = max(covered.get(covers, 0.0), weight if cover is None else cover)

    for m in facts.mentions:
        name = f"{m.colour} {m.shape}" if m.colour else by_shape.get(m.shape)
        real = name in counts
        if m.colour:
            judge(f"entity:{name}", real, WEIGHT_ENTITY, covers=f"entity:{name}")
        else:
            # The shape alone names a group (shapes are unique in a scene) but says half of what it is.
            judge(f"shape:{m.shape}", real, WEIGHT_SHAPE_ONLY, covers=f"entity:{name}")
        if m.count is not None:
            ok = real and counts[name] == m.count
            judge(f"count:{m.count} {m.colour or 'any'} {m.shape}", ok, WEIGHT_COUNT, covers=f"count:{name}")
        if m.size is not None:
            ok = real and sizes.get(name) == m.size
            judge(f"size:{m.size} {m.colour or 'any'} {m.shape}", ok, WEIGHT_SIZE)
    for colour in facts.colours:
        judge(f"colour:{colour}", colour in colours, WEIGHT_COLOUR_ONLY)
    for colour in facts.backgrounds:
        ok = colour == _base_colour(truth["background"])
        judge(f"background:{colour}", ok, WEIGHT_BACKGROUND, covers="background")
    for texture in facts.textures:
        judge(f"texture:{texture}", texture == truth["texture"], WEIGHT_TEXTURE, covers="texture")
    true_relations = _closure(truth["relations"])
    for relation in facts.relations:
        key = "relation:" + " ".join(relation)
        judge(key, relation in true_relations, WEIGHT_RELATION, covers=key)
    for k in range(facts.unresolved_relations):
        judge(f"relation:unresolved-{k}", False, WEIGHT_RELATION)
    for text in facts.texts:
        judge(f"text:{text}", text == (truth.get("text") or "").upper(), WEIGHT_TEXT, covers="text")

    needed: dict[str, float] = {}
    for name in counts:
        needed[f"entity:{name}"] = WEIGHT_ENTITY
        needed[f"count:{name}"] = WEIGHT_COUNT
    for r in truth["relations"]:
        needed[f"relation:{r['subject']} {r['relation']} {r['object']}"] = WEIGHT_RELATION
    needed["background"] = WEIGHT_BACKGROUND
    if truth["texture"] != "plain":
        needed["texture"] = WEIGHT_TEXTURE
    if truth.get("text"):
        needed["text"] = WEIGHT_TEXT

    correct, false = sum(right.values()), sum(wrong.values())
    precision = correct / (correct + false) if correct + false else 0.0
    stated = sum(min(weight, covered.get(key, 0.0)) for key, weight in needed.items())
    recall = stated / sum(needed.values())
    return FactCheck(
        precision=precision,
        recall=recall,
        content=precision * recall,
        correct=correct,
        wrong=false,
        asserted=len(right) + len(wrong),
        misses=tuple(sorted(k for k, w in needed.items() if covered.get(k, 0.0) < w)),
        errors=tuple(sorted(wrong)),
    )
