"""Which facts does a caption assert, and which of them are true of the scene?

A caption is read as a list of shape mentions (`two small red circles`, `the star`, `a pair of pluses`), colours
said without a shape, a background (`on a pale blue background with white dots`), a texture, relations between
mentions (`the red circle is to the left of the blue star`, `beneath them`, `from left to right: ...`, `on the
left ... on the right`, `with a star in its centre`) and printed text (`the word "STOP"`). Each asserted fact is
checked against the scene's ground truth (see harness/tasks/caption_gen.py `truth_of`):

- precision: the weight of true facts over the weight of all asserted facts, a false fact weighing FALSE_COST
  times its weight: saying something false about an image is worse than leaving it out, so hedging ("a red,
  blue or green circle") and guessing lose;
- recall, weighed by salience: the main content (every group's colour, shape and count, and the background
  colour: what one sentence about the image says) is CORE_SHARE of it, the details (relations, a non-plain
  texture, printed text) the rest; a scene without details is all main content;
- content = precision x recall: zero when nothing true is said, and zero when nothing is said at all.

The reader is deliberately a small keyword parser, not a model: its rules are public, and a miner who games it
must write captions that state the true facts, which is the task. What it does not understand is simply not
counted: unread facts lower recall, never precision. docs/captions.md lists what it reads.
"""

from __future__ import annotations

import itertools
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
    "solitary": 1,
    "two": 2,
    "pair": 2,
    "couple": 2,
    "three": 3,
    "trio": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
}
# "a pair of", "a row of three": the word before "of" either is the count or collects the shapes after it.
_COLLECTIVES = {"pair", "couple", "trio", "dozen", "row", "column", "line", "group", "set", "cluster", "stack"}
_COLLECTIVES |= {"bunch", "cluster", "handful", "series", "collection", "total"}
SIZE_WORDS = {
    "small": "small",
    "tiny": "small",
    "little": "small",
    "medium": "medium",
    "large": "large",
    "big": "large",
    "huge": "large",
}
# Texture adjectives, and the pattern nouns that say the same of a background ("with stripes", "polka dots").
TEXTURE_WORDS = {
    "plain": "plain",
    "solid": "plain",
    "striped": "striped",
    "stripy": "striped",
    "stripey": "striped",
    "pinstriped": "striped",
    "dotted": "dotted",
    "spotted": "dotted",
    "spotty": "dotted",
    "polka": "dotted",
    "checkered": "checkered",
    "chequered": "checkered",
    "checked": "checkered",
    "checkerboard": "checkered",
    "chequerboard": "checkered",
    "gingham": "checkered",
}
PATTERN_NOUNS = {
    "stripe": "striped",
    "stripes": "striped",
    "pinstripes": "striped",
    "dot": "dotted",
    "dots": "dotted",
    "spot": "dotted",
    "spots": "dotted",
    "check": "checkered",
    "checks": "checkered",
    "checker": "checkered",
    "checkers": "checkered",
    "chequers": "checkered",
    "grid": "checkered",
    "tiles": "checkered",
    "lines": "striped",
}
BACKGROUND_NOUNS = {"background", "backdrop", "backround", "canvas"}
_PATTERN_WORDS = {"pattern", "patterned", "patterns", "texture", "textured", "print", "motif"}
_LINKING_WORDS = {"that", "which", "is", "are", "in", "coloured", "colored", "all", "both", "each", "painted", ","}
_MODIFIERS = {"light", "pale", "dark", "faint", "thin", "thick", "fine", "subtle", "soft", "bright", "tiny", "small"}
_MODIFIERS |= {"little", "diagonal", "vertical", "horizontal", "slanted", "darker", "lighter", "slightly", "very"}
_MODIFIERS |= {"and", "shaded", "tinted"}
_DETERMINERS = {"a", "an", "the", "one", "two", "three", "four", "five", "some", "its", "their", "this", "that"}
# Relations between two mentions: (relation, whether subject and object swap).
RELATION_PHRASES = {
    ("to", "the", "left", "of"): ("left of", False),
    ("on", "the", "left", "of"): ("left of", False),
    ("left", "of"): ("left of", False),
    ("to", "the", "right", "of"): ("left of", True),
    ("on", "the", "right", "of"): ("left of", True),
    ("right", "of"): ("left of", True),
    ("above",): ("above", False),
    ("over",): ("above", False),
    ("on", "top", "of"): ("above", False),
    ("atop",): ("above", False),
    ("higher", "than"): ("above", False),
    ("below",): ("above", True),
    ("under",): ("above", True),
    ("beneath",): ("above", True),
    ("underneath",): ("above", True),
    ("lower", "than"): ("above", True),
    ("inside",): ("inside", False),
    ("within",): ("inside", False),
    ("in", "the", "middle", "of"): ("inside", False),
    ("in", "the", "centre", "of"): ("inside", False),
    ("in", "the", "center", "of"): ("inside", False),
    ("at", "the", "centre", "of"): ("inside", False),
    ("at", "the", "center", "of"): ("inside", False),
    ("contains",): ("inside", True),
    ("containing",): ("inside", True),
    ("contain",): ("inside", True),
    ("encloses",): ("inside", True),
    ("enclosing",): ("inside", True),
    ("surrounds",): ("inside", True),
    ("surrounding",): ("inside", True),
    ("overlaps",): ("overlapping", False),
    ("overlapping",): ("overlapping", False),
    ("overlap",): ("overlapping", False),
    ("overlapped",): ("overlapping", False),
    ("overlaid",): ("overlapping", False),
    ("overlays",): ("overlapping", False),
    ("intersects",): ("overlapping", False),
    ("intersecting",): ("overlapping", False),
    ("partly", "covering"): ("overlapping", False),
    ("partly", "covers"): ("overlapping", False),
    ("partially", "covering"): ("overlapping", False),
    ("partially", "covers"): ("overlapping", False),
    ("partly", "over"): ("overlapping", False),
    ("partially", "over"): ("overlapping", False),
    ("partly", "on", "top", "of"): ("overlapping", False),
    ("partially", "on", "top", "of"): ("overlapping", False),
    ("partly", "behind"): ("overlapping", False),
    ("partially", "behind"): ("overlapping", False),
}
# "in its centre", "at their middle": the mention just before sits inside the one before it.
_OWN_CENTRE = {("in", "its"), ("in", "their"), ("at", "its"), ("at", "their")}
_CENTRE_NOUNS = {"centre", "center", "middle"}
# Positions in the frame and their rank along an axis: "on the left ... on the right", "at the top".
_POSITION_WORDS = {
    "left": ("x", 0),
    "leftmost": ("x", 0),
    "right": ("x", 2),
    "rightmost": ("x", 2),
    "top": ("y", 0),
    "upper": ("y", 0),
    "topmost": ("y", 0),
    "bottom": ("y", 2),
    "lower": ("y", 2),
    "bottommost": ("y", 2),
    "centre": ("c", 1),
    "center": ("c", 1),
    "middle": ("c", 1),
}
_POSITION_PREPS = {"on", "to", "at", "in", "along", "across", "toward", "towards"}
_POSITION_TAIL = {"side", "hand", "half", "part", "edge", "corner", "end", "row", "column", "area", "of"}
_FRAME_NOUNS = {"image", "picture", "frame", "scene", "canvas", "photo", "panel", "it", "them"}
# "from left to right: ...": the mentions that follow are a chain of this relation.
_ORDER_PHRASES = {
    ("left", "to", "right"): ("left of", False),
    ("right", "to", "left"): ("left of", True),
    ("top", "to", "bottom"): ("above", False),
    ("bottom", "to", "top"): ("above", True),
}
_PRONOUNS = {"it", "them", "they", "these", "those"}
_PRONOUN_THAT = {"to", "of", "beside", "below", "above", "under", "beneath", "underneath"}  # "next to that"
_CLAUSE_STARTS = {",", ":", "and", "while", "whereas", "but", "then"}
_TEXT_CUES = {"word", "words", "text", "says", "say", "reads", "read", "reading", "written", "label", "labelled"}
_TEXT_CUES |= {"labeled", "letters", "spells", "spelling", "caption", "printed", "saying", "lettering", "inscription"}
# After a text cue, words that say how or where the text is, not what it says.
_TEXT_FILLER = {"the", "a", "an", "is", "are", "was", "of", "that", "which", "it", "in", "on", "at", "to", "with"}
_TEXT_FILLER |= {"below", "beneath", "under", "underneath", "above", "across", "along", "near", "and", "or", "by"}
_TEXT_FILLER |= {"capital", "capitals", "bold", "black", "white", "large", "small", "big", "bottom", "top", "image"}
_TEXT_FILLER |= {"picture", "some", "short", "single", "one", "printed", "written", "appears", "there", "here"}
_TEXT_FILLER |= {"this", "these", "them", "word", "words", "text", "says", "reads", "reading", "label", "letters"}
_TEXT_FILLER |= {"uppercase", "upper", "case", "font", "shapes", "has", "have", "spelled", "out", "simply", "just"}
_TEXT_FILLER |= {"too", "hard", "illegible", "unreadable", "faint", "tiny", "dark", "centred", "centered", "neatly"}
_TEXT_FILLER |= {"unclear", "blurry", "blurred", "visible", "legible", "partly", "partially", "cut", "off", "difficult"}
_BACKGROUND_SKIP = {"a", "an", "the", "plain", "light", "pale", "solid", "soft", "bright", "dark", "coloured"}
_BACKGROUND_SKIP |= {"colored", "faint", "pastel", "subtle", "whole", "entire", "overall", ",", "very", "off"}
_BACKGROUND_SKIP |= set(TEXTURE_WORDS) | set(PATTERN_NOUNS) | _PATTERN_WORDS
_BARE_BACKGROUND_PREPS = {"on", "against", "over"}

# Weights: what a fact is worth when true.
WEIGHT_ENTITY = 2.0  # a group named by colour and shape
WEIGHT_SHAPE_ONLY = 1.0
WEIGHT_COUNT = 1.0
WEIGHT_COLOUR_ONLY = 1.0
WEIGHT_SIZE = 0.25  # sizes are relative and not required, so they can cost but earn little
WEIGHT_RELATION = 1.0
WEIGHT_BACKGROUND = 1.0
WEIGHT_TEXTURE = 1.0
WEIGHT_TEXT = 1.0
FALSE_COST = 2.0  # a false fact weighs this many times its weight in precision
CORE_SHARE = 0.85  # share of recall for the main content: groups (colour, shape, count) and background colour

_TOKEN = re.compile(r"[a-z]+|\d+|[,:]")
_SENTENCE_END = re.compile(r"[.;!?]+(?:\s|$)")
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{1,40})[\"“”«»]|(?<![A-Za-z])['‘’]([^'‘’]{1,40})['‘’](?![A-Za-z])")
_CAPS_WORD = re.compile(r"\b[A-Z]{2,}\b")


@dataclass(frozen=True)
class Mention:
    shape: str | None  # None for a pronoun ("them", "it"), resolved to a mention by the relation it is in
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


@dataclass
class _Context:
    """What one sentence leaves to the next: the caption's mentions so far (for "them", and for "Arranged left to
    right." after a list), the shapes that sit inside or on another (id -> host; they are not in the row), and the
    places said so far ("Two circles on the left; on the right a star")."""

    previous: list[Mention] = field(default_factory=list)
    guests: dict[int, Mention] = field(default_factory=dict)
    tagged: list[tuple[Mention, list[tuple[str, int]]]] = field(default_factory=list)


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
    """Lower-case words, numbers, commas and colons; "to its right" becomes "to the right of it"."""
    tokens = _TOKEN.findall(text.lower().replace("’", "'"))
    out: list[str] = []
    i = 0
    while i < len(tokens):
        prep, owner, side = tokens[i : i + 3] + [""] * (3 - len(tokens[i : i + 3]))
        if prep in {"to", "on", "at"} and owner in {"its", "their"} and side in {"left", "right"}:
            out += ["to", "the", side, "of", "it" if owner == "its" else "them"]
            i += 3
            continue
        out.append(tokens[i])
        i += 1
    return out


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token) if len(token) <= 3 else None
    return NUMBER_WORDS.get(token)


def _at(tokens: list[str], i: int) -> str:
    return tokens[i] if 0 <= i < len(tokens) else ""


def _names_object(tokens: list[str], i: int) -> bool:
    """Whether the shape word at i names a shape in the image, not another sense of the word: "plus" as "and",
    "the star of the picture", "a diamond pattern", "arranged in a circle", "sits square in the middle"."""
    word, before, after = tokens[i], _at(tokens, i - 1), _at(tokens, i + 1)
    if word == "plus":
        if after in {"sign", "signs", "symbol", "symbols", "shape", "shapes", "mark", "marks"}:
            return True
        modified = before in COLOUR_WORDS or before in SIZE_WORDS or before in {"a", "the", "one", "single"}
        joins = after in COLOUR_WORDS or after in SIZE_WORDS or after in NUMBER_WORDS or after.isdigit()
        return modified and not joins and after not in {"the", "some", "its", "their"}
    if after in _PATTERN_WORDS or after in PATTERN_NOUNS or after in {"hatched", "hatching", "stitch", "stitched"}:
        return False
    if before == "criss":
        return False
    if "of" in tokens[max(0, i - 4) : i]:
        # "a checkerboard of grey squares", "a pattern of tiny squares": the pattern, not shapes
        k = i - 1 - tokens[max(0, i - 4) : i][::-1].index("of")
        if _at(tokens, k - 1) in _PATTERN_WORDS or _at(tokens, k - 1) in set(PATTERN_NOUNS) | set(TEXTURE_WORDS):
            return False
    if word in {"star", "stars"} and after == "of" and _at(tokens, i + 3) in _FRAME_NOUNS | {"show"}:
        return False
    if before == "a" and _at(tokens, i - 2) in {"in", "form", "forming", "forms", "make", "making"}:
        # "arranged in a circle", "forming a square": an arrangement, unless a colour or size says it is drawn
        return _at(tokens, i - 3) not in {"arranged", "placed", "set", "laid", "form", "forming", "grouped"} and (
            _at(tokens, i - 2) == "in"
        )
    if word == "square" and before in {"sits", "sit", "sitting", "placed", "set", "right", "dead", "bang"}:
        return after not in {"in", "on", "at"}
    return True


def _relation_at(tokens: list[str], i: int) -> tuple[int, str, bool] | None:
    for phrase, (name, swap) in RELATION_PHRASES.items():
        if tuple(tokens[i : i + len(phrase)]) == phrase:
            if name == "inside" and phrase[-1] == "of" and _at(tokens, i + len(phrase) + 1) in _FRAME_NOUNS:
                return None  # "in the middle of the image" is a position, not containment
            if phrase[-1] == "of" and name == "left of" and _at(tokens, i + len(phrase) + 1) in _FRAME_NOUNS:
                return None  # "on the left of the picture"
            return len(phrase), name, swap
    if tuple(tokens[i : i + 2]) in _OWN_CENTRE and _at(tokens, i + 2) in _CENTRE_NOUNS:
        return 3, "own-centre", False
    return None


def _is_pattern_colour(tokens: list[str], k: int) -> bool:
    """A colour that belongs to the background's pattern ("white dots", "grey and white stripes"), not to the
    background ("a white polka dot backdrop") or to a shape."""
    crossed = False
    for j in range(k + 1, min(len(tokens), k + 6)):
        word = tokens[j]
        if word in PATTERN_NOUNS or word in _PATTERN_WORDS:
            crossed = True
        elif word in BACKGROUND_NOUNS:
            return False
        elif word not in COLOUR_WORDS and word not in _MODIFIERS and word not in TEXTURE_WORDS:
            return crossed
    return crossed


def _background_colour(tokens: list[str], j: int, used: set[int]) -> str | None:
    """The colour of a background noun at j: `light grey background`, `background is white`, `background of
    pale blue`, `white polka dot backdrop`."""
    k = j - 1
    while k >= 0 and j - k <= 6 and (tokens[k] in _BACKGROUND_SKIP or tokens[k] in COLOUR_WORDS):
        if tokens[k] in COLOUR_WORDS and not _is_pattern_colour(tokens, k):
            used.add(k)
            return COLOUR_WORDS[tokens[k]]
        k -= 1
    if _at(tokens, j + 1) in {"is", "was", "colour", "color", "of", "in", "that", "which", "being", "coloured", ":"}:
        for k in range(j + 2, min(len(tokens), j + 6)):
            if tokens[k] in COLOUR_WORDS and not _is_pattern_colour(tokens, k):
                used.add(k)
                return COLOUR_WORDS[tokens[k]]
            if tokens[k] in SHAPE_WORDS or tokens[k] == ",":
                return None
    return None


def _bare_background(tokens: list[str], k: int) -> bool:
    """ "three red circles on white": a colour after on/against with no noun of its own is the background."""
    j = k - 1
    while j >= 0 and tokens[j] in _BACKGROUND_SKIP:
        j -= 1
    if j == k or _at(tokens, j) not in _BARE_BACKGROUND_PREPS:
        return False
    after = _at(tokens, k + 1)
    return after in {"", ",", "and", "with", "covered", "patterned", "in"} or after in TEXTURE_WORDS


def _mention_at(tokens: list[str], i: int, boundary: int, used: set[int]) -> Mention:
    colour = size = None
    count = None
    start = i
    k = i - 1
    while k > max(boundary, i - 6):
        word = tokens[k]
        if word in COLOUR_WORDS and colour is None and k not in used:
            colour, start = COLOUR_WORDS[word], k
            used.add(k)
        elif word in SIZE_WORDS and size is None:
            size, start = SIZE_WORDS[word], k
        elif _number(word) is not None and count is None:
            count, start = _number(word), k
            if word == "dozen" and _at(tokens, k - 1) == "half":
                count, start = 6, k - 1
            break
        elif word == "of" and _at(tokens, k - 1) in _COLLECTIVES:
            k -= 1
            if _number(tokens[k]) is not None:
                continue  # "a pair of": the count is the collective itself
            start = k
        elif word in SHAPE_WORDS or word in {"and", "or", "with", "beside", "next", "near", "of", ",", ":"}:
            break
        k -= 1
    if count == 1 and tokens[i] not in _SINGULAR_FORMS:
        count = None  # "a few", "a group of": not one, and not a number
    if colour is None:
        colour = _colour_after(tokens, i, used)
    return Mention(SHAPE_WORDS[tokens[i]], colour, count, size, start, i)


def _position_at(tokens: list[str], i: int) -> tuple[int, list[tuple[str, int]]] | None:
    """A position phrase at i ("on the left", "at the top right", "in the centre of the image"): its length and
    its (axis, rank) pairs; axis "c" is the centre, on whichever axis the caption uses."""
    j = i
    if tokens[j] in _POSITION_PREPS:
        j += 1
        if _at(tokens, j) in {"the", "its"}:
            j += 1
        if _at(tokens, j) in {"far", "very", "extreme"}:
            j += 1
    elif tokens[j] not in {"leftmost", "rightmost", "topmost", "bottommost"}:
        return None
    places = []
    while _at(tokens, j) in _POSITION_WORDS:
        places.append(_POSITION_WORDS[tokens[j]])
        j += 1
    if not places or (tokens[i] in _POSITION_PREPS and j == i + 1):
        return None
    if tokens[i] == "on" and places == [("y", 0)] and _at(tokens, j) == "of":
        return None  # "on top of" is a relation
    while _at(tokens, j) in _POSITION_TAIL:
        if tokens[j] == "of":
            if _at(tokens, j + 1) in {"the", "this"} and _at(tokens, j + 2) in _FRAME_NOUNS:
                j += 3
            break
        j += 1
    return j - i, places


def _read_sentence(
    tokens: list[str],
    facts: Facts,
    resolve: Callable[[Mention], str | None],
    context: _Context,
) -> None:
    """Read one sentence into `facts`; `context` carries what later sentences need (see `_Context`)."""
    previous, guests = context.previous, context.guests
    used: set[int] = set()
    for j, token in enumerate(tokens):
        if token in BACKGROUND_NOUNS:
            colour = _background_colour(tokens, j, used)
            if colour:
                facts.backgrounds.add(colour)
    bare = False
    for k, token in enumerate(tokens):
        if token in COLOUR_WORDS and k not in used and _bare_background(tokens, k):
            facts.backgrounds.add(COLOUR_WORDS[token])
            used.add(k)
            bare = True
        if token in COLOUR_WORDS and _is_pattern_colour(tokens, k):
            used.add(k)
    mentions: list[Mention] = []
    relation_marks: list[tuple[int, int, str, bool]] = []
    positions: list[tuple[int, int, list[tuple[str, int]]]] = []
    orders: list[tuple[int, str, bool]] = []
    boundary = -1
    i = 0
    while i < len(tokens):
        token = tokens[i]
        order = next((o for p, o in _ORDER_PHRASES.items() if tuple(tokens[i : i + len(p)]) == p), None)
        if order:
            orders.append((i, *order))
            boundary = i + 2
            i += 3
            continue
        relation = _relation_at(tokens, i)
        if relation:
            length, name, swap = relation
            relation_marks.append((i, i + length, name, swap))
            boundary = i + length - 1
            i += length
            continue
        position = _position_at(tokens, i)
        if position:
            length, places = position
            positions.append((i, i + length, places))
            boundary = i + length - 1
            i += length
            continue
        if token in BACKGROUND_NOUNS:
            boundary = i
        elif token in SHAPE_WORDS and _names_object(tokens, i):
            mentions.append(_mention_at(tokens, i, boundary, used))
            boundary = i
        elif token in _PRONOUNS or (token == "that" and _at(tokens, i - 1) in _PRONOUN_THAT):
            mentions.append(Mention(None, None, None, None, i, i))
        elif token == "in" and mentions and mentions[-1].end == i - 1:
            # "a small star in a large hexagon": "in" followed by a shape phrase is containment.
            j = i + 1
            while j < min(len(tokens), i + 5) and (tokens[j] in _DETERMINERS or tokens[j] in SIZE_WORDS):
                j += 1
            while j < min(len(tokens), i + 6) and (tokens[j] in COLOUR_WORDS or tokens[j] in _MODIFIERS - {"and"}):
                j += 1
            if _at(tokens, j) in SHAPE_WORDS and _names_object(tokens, j):
                relation_marks.append((i, i + 1, "inside", False))
                boundary = i
        i += 1
    _read_colours_and_textures(tokens, used, facts, bare)
    facts.mentions.extend(m for m in mentions if m.shape is not None)
    for start, end, name, swap in relation_marks:
        pair = _relation_pair(tokens, mentions, previous, start, end, name)
        if pair is None:
            continue
        subject, obj = pair
        if name == "own-centre":
            name = "inside"
        if name in ("inside", "overlapping"):
            guest, host = (obj, subject) if swap else (subject, obj)
            if name == "overlapping" and guest.start < host.start:
                guest, host = host, guest  # the shape named later is the one laid on the other
            guests[id(guest)] = host
        elif id(subject) in guests and not swap:
            subject = guests[id(subject)]  # "a hexagon with a circle overlapping it sits left of ...": the hexagon
        _add_relation(facts, resolve, subject, name, obj, swap)
    for start, name, swap in orders:
        real = [m for m in mentions if m.shape is not None and id(m) not in guests]
        chain = [m for m in real if m.start > start] or [m for m in real if m.end < start]
        chain = chain or [m for m in previous if id(m) not in guests]
        for a, b in itertools.pairwise(chain):
            _add_relation(facts, resolve, a, name, b, swap)
    context.tagged += _tag_positions(tokens, mentions, previous, positions)
    previous.extend(m for m in mentions if m.shape is not None)


_TRAILING = {"inside", "within", "overlapping", "overlap", "below", "beneath", "underneath", "above"}
_ADVERBS = {"just", "directly", "immediately", "right", "slightly", "far", "somewhat", "partly", "and"}


def _opens_clause(tokens: list[str], start: int) -> bool:
    """Whether a phrase at `start` opens its clause ("Beneath them are ...", ", and to the left of it ...")."""
    k = start - 1
    while k >= 0 and tokens[k] in _ADVERBS - {"and"}:
        k -= 1
    return k < 0 or tokens[k] in _CLAUSE_STARTS


def _pronoun_referent(pronoun: Mention, mentions: list[Mention], previous: list[Mention], exclude: Mention | None):
    """The last real mention before a pronoun that is not the relation's other side."""
    earlier = previous + [m for m in mentions if m.shape is not None and m.end < pronoun.start]
    for mention in reversed(earlier):
        if mention is not exclude:
            return mention
    return None


def _relation_pair(
    tokens: list[str], mentions: list[Mention], previous: list[Mention], start: int, end: int, name: str
) -> tuple[Mention, Mention] | None:
    """The (subject, object) of a relation phrase at [start, end): "A is left of B", "left of B is A" (fronted),
    "A with B inside" (trailing), "A with B in its centre"."""
    before = [m for m in mentions if m.end < start]
    after = [m for m in mentions if m.start >= end and _joined(tokens, end, m.start)]
    real_before = [m for m in before if m.shape is not None]
    if name == "own-centre":
        return (real_before[-1], real_before[-2]) if len(real_before) >= 2 else None

    def real(mention: Mention, exclude: Mention | None) -> Mention | None:
        if mention.shape is not None:
            return mention
        return _pronoun_referent(mention, mentions, previous, exclude)

    in_clause = [m for m in mentions if m.start >= end and not {"and", "while", "but"} & set(tokens[end : m.start])]
    if _opens_clause(tokens, start) and in_clause:
        after = in_clause
        if len(after) >= 2:  # "beneath them are two squares", "to the left of the star is a circle"
            subject = real(after[1], None)
            obj = real(after[0], subject)
        else:  # "..., and below, two squares": below what came before
            subject = real(after[0], None)
            earlier = previous + real_before
            obj = earlier[-1] if earlier else None
        return (subject, obj) if subject is not None and obj is not None and subject is not obj else None
    if after and before:
        subject = real(before[-1], None)
        obj = real(after[0], subject)
        return (subject, obj) if subject is not None and obj is not None and subject is not obj else None
    if before and not after and tokens[start] in _TRAILING:
        # trailing: "a hexagon with a star inside", "red circles with blue squares below"
        with_at = max((k for k in range(start) if tokens[k] in {"with", "has", "have", "holds", "hold"}), default=-1)
        host = [m for m in real_before if m.end < with_at]
        guest = [m for m in real_before if m.start > with_at]
        if with_at >= 0 and host and guest:
            return guest[0], host[-1]
        first, second = (real_before[-2], real_before[-1]) if len(real_before) >= 2 else (None, None)
        if name == "overlapping" and first and second and _joined(tokens, first.end + 1, second.start, {"and"}):
            return second, first  # "a circle and a star overlap"
    return None


def _joined(tokens: list[str], start: int, end: int, extra: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether only the words of a shape phrase (articles, numbers, sizes, colours) lie in tokens[start:end]: the
    object of a relation follows it directly ("left of the two red circles"), not in the next clause."""
    return all(
        t in extra
        or t == "by"
        or (t != "and" and (t in _DETERMINERS or t in SIZE_WORDS or t in COLOUR_WORDS or t in _MODIFIERS))
        or _number(t) is not None
        for t in tokens[start:end]
    )


def _add_relation(
    facts: Facts, resolve: Callable[[Mention], str | None], subject: Mention, name: str, obj: Mention, swap: bool
) -> None:
    if swap:
        subject, obj = obj, subject
    a, b = resolve(subject), resolve(obj)
    if a is None or b is None:
        facts.unresolved_relations += 1
    elif a != b:
        facts.relations.add(_canonical((a, name, b)))


def _canonical(relation: tuple[str, str, str]) -> tuple[str, str, str]:
    """Overlap is symmetric: "A overlaps B" and "B overlaps A" are one fact."""
    a, name, b = relation
    return (min(a, b), name, max(a, b)) if name == "overlapping" else relation


def _tag_positions(
    tokens: list[str],
    mentions: list[Mention],
    previous: list[Mention],
    positions: list[tuple[int, int, list[tuple[str, int]]]],
) -> list[tuple[Mention, list[tuple[str, int]]]]:
    """ "a red circle on the left, a blue star in the middle and green squares on the right": each position phrase
    tags the mention it follows, or the one after it when it opens a clause."""
    tagged: list[tuple[Mention, list[tuple[str, int]]]] = []
    real = [m for m in mentions if m.shape is not None]
    for start, end, places in positions:
        opens = start == 0 or tokens[start - 1] in _CLAUSE_STARTS
        nxt = [m for m in real if m.start >= end]
        prev = [m for m in real if m.end < start]
        closes = _at(tokens, end) == "and" or tokens[end : end + 2] == [",", "and"]
        if opens and nxt and not (closes and prev):
            tagged.append((nxt[0], places))
        elif prev:
            tagged.append((prev[-1], places))
        elif nxt:
            tagged.append((nxt[0], places))
    pronoun = next((m for m in mentions if m.shape is None), None)
    if len(tagged) == 1 and pronoun is not None and pronoun.start < positions[0][0]:
        # "Next to that, on the right, are ...": what "that" stands for is on the other side
        mention, places = tagged[0]
        referent = _pronoun_referent(pronoun, mentions, previous, mention)
        opposite = [(axis, 2 - rank) for axis, rank in places if axis != "c"]
        if referent is not None and opposite:
            tagged.append((referent, opposite))
    return tagged


def _relations_from_positions(
    tagged: list[tuple[Mention, list[tuple[str, int]]]], facts: Facts, resolve: Callable[[Mention], str | None]
) -> None:
    """Mentions tagged with places anywhere in the caption are ordered: left before centre before right, top
    before middle before bottom; "centre" joins the axis the caption uses."""
    axes = {axis for _, places in tagged for axis, _ in places if axis != "c"}
    centre_axis = next(iter(axes)) if len(axes) == 1 else None
    ranks: dict[str, list[tuple[Mention, int]]] = {"x": [], "y": []}
    for mention, places in tagged:
        for axis, rank in places:
            axis = centre_axis if axis == "c" else axis
            if axis is not None:
                ranks[axis].append((mention, rank))
    for axis, name in (("x", "left of"), ("y", "above")):
        for a, rank_a in ranks[axis]:
            for b, rank_b in ranks[axis]:
                if rank_a < rank_b:
                    _add_relation(facts, resolve, a, name, b, False)


def _read_colours_and_textures(tokens: list[str], used: set[int], facts: Facts, bare_background: bool) -> None:
    has_background = bare_background or any(t in BACKGROUND_NOUNS or t in _PATTERN_WORDS for t in tokens)
    for k, token in enumerate(tokens):
        if token in COLOUR_WORDS and k not in used:
            facts.colours.add(COLOUR_WORDS[token])
        if token in TEXTURE_WORDS:
            after = _at(tokens, k + 1)
            modifies_shape = after in SHAPE_WORDS or (_at(tokens, k + 2) in SHAPE_WORDS and after in COLOUR_WORDS)
            if token == "checked" and _at(tokens, k - 1) in {"is", "was", "been", "be"}:
                continue
            if token in {"plain", "solid"} and not _near(tokens, k, BACKGROUND_NOUNS | _PATTERN_WORDS, 2):
                continue
            if not modifies_shape:
                facts.textures.add(TEXTURE_WORDS[token])
        elif token in PATTERN_NOUNS and (has_background or _at(tokens, k + 1) in BACKGROUND_NOUNS):
            before = tokens[max(0, k - 3) : k]
            counted = any(_number(t) is not None and t not in {"a", "an"} for t in before)
            if (token == "grid" and _at(tokens, k + 1) == "of") or (token == "tiles" and not has_background):
                continue
            if not counted:
                facts.textures.add(PATTERN_NOUNS[token])


def _near(tokens: list[str], k: int, nouns: set[str], span: int) -> bool:
    return any(t in nouns for t in tokens[max(0, k - span) : k + span + 1])


def _colour_after(tokens: list[str], i: int, used: set[int]) -> str | None:
    """A colour said after its noun: "circles that are red", "the star is blue", "plus signs in green"."""
    if _at(tokens, i + 1) in {"sign", "signs", "symbol", "symbols", "shape", "shapes"}:
        i += 1
    for k in range(i + 1, min(len(tokens), i + 4)):
        if tokens[k] in COLOUR_WORDS and k not in used:
            if _at(tokens, k + 1) in SHAPE_WORDS or _at(tokens, k + 1) in BACKGROUND_NOUNS:
                return None  # the colour of the next thing named
            if _at(tokens, k + 1) in SIZE_WORDS or _at(tokens, k + 1) in COLOUR_WORDS:
                return None
            used.add(k)
            return COLOUR_WORDS[tokens[k]]
        if tokens[k] not in _LINKING_WORDS:
            return None
    return None


def _claimable(word: str) -> bool:
    """A word after a text cue that could be the printed word (not scene vocabulary or filler)."""
    vocabulary = COLOUR_WORDS.keys() | SHAPE_WORDS.keys() | BACKGROUND_NOUNS | _TEXT_FILLER | _TEXT_CUES
    return word.isalpha() and word not in vocabulary


def _texts(caption: str) -> set[str]:
    """Each word the caption says is printed: quoted, in capitals, or right after a cue ("it says stop")."""
    found = {"".join(q).strip().upper() for q in _QUOTED.findall(caption) if "".join(q).strip()}
    letters = [c for c in caption if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) < 0.5 * len(letters):
        found |= set(_CAPS_WORD.findall(caption))
    tokens = _tokens(caption)
    for k, token in enumerate(tokens):
        if token not in _TEXT_CUES:
            continue
        j = k + 1
        while j < len(tokens) and (tokens[j] in _TEXT_FILLER or tokens[j] in _TEXT_CUES or tokens[j] == ":"):
            j += 1
        if j >= len(tokens) or j - k > 4:
            continue
        while j < len(tokens) and _claimable(tokens[j]):
            found.add(tokens[j].upper())
            # "says stop, open or zoo": a list names every word in it (and check() counts a list as wrong)
            n = j + 1
            while n < len(tokens) and tokens[n] in {",", "or", "and", "maybe", "perhaps", "possibly"}:
                n += 1
            if n == j + 1:
                break
            j = n
    return found


def read_facts(caption: str, truth: dict) -> Facts:
    """The facts `caption` asserts. `truth` only names the scene's groups so that "the star" can be resolved."""
    by_shape = {name.split(" ", 1)[1]: name for name in truth["counts"]}

    def resolve(mention: Mention) -> str | None:
        if mention.shape is None:
            return None
        if mention.colour is not None:
            name = f"{mention.colour} {mention.shape}"
            return name if name in truth["counts"] else None
        return by_shape.get(mention.shape)

    facts = Facts()
    context = _Context()
    for sentence in _sentences(caption):
        _read_sentence(_tokens(sentence), facts, resolve, context)
    _relations_from_positions(context.tagged, facts, resolve)
    facts.texts = _texts(caption)
    return facts


def _base_colour(background: str) -> str:
    return background.split()[-1]


def _closure(relations: list[dict]) -> set[tuple[str, str, str]]:
    """True relations including the ones that follow: a chain (a left of b, b left of c: a left of c), and a shape
    inside or overlapping a group sits where that group does (it lies within the group's row or column)."""
    true = {(r["subject"], r["relation"], r["object"]) for r in relations}
    attached = [(s, o) for s, rel, o in true if rel in ("inside", "overlapping")]
    changed = True
    while changed:
        extra = {
            (a, r1, d) for a, r1, b in true for c, r2, d in true if r1 == r2 and b == c and r1 in ("left of", "above")
        }
        for guest, host in attached:
            extra |= {(guest, r, o) for s, r, o in true if s == host and r in ("left of", "above")}
            extra |= {(s, r, guest) for s, r, o in true if o == host and r in ("left of", "above")}
        changed = not extra <= true
        true |= extra
    true |= {(guest, "overlapping", host) for guest, rel, host in true if rel == "inside"}  # a shape within overlaps
    return {_canonical(r) for r in true}


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
        assert m.shape is not None
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
    if len(facts.texts) > 1:
        # A list of candidate words says the text is one of them: a hedge, and one wrong claim.
        judge("text:" + "|".join(sorted(facts.texts)), False, WEIGHT_TEXT)
    for text in facts.texts if len(facts.texts) == 1 else ():
        judge(f"text:{text}", text == (truth.get("text") or "").upper(), WEIGHT_TEXT, covers="text")

    core: dict[str, float] = {"background": WEIGHT_BACKGROUND}
    for name in counts:
        core[f"entity:{name}"] = WEIGHT_ENTITY
        core[f"count:{name}"] = WEIGHT_COUNT
    detail: dict[str, float] = {}
    for r in truth["relations"]:
        detail["relation:" + " ".join(_canonical((r["subject"], r["relation"], r["object"])))] = WEIGHT_RELATION
    if truth["texture"] != "plain":
        detail["texture"] = WEIGHT_TEXTURE
    if truth.get("text"):
        detail["text"] = WEIGHT_TEXT

    def stated(needed: dict[str, float]) -> float:
        return sum(min(weight, covered.get(key, 0.0)) for key, weight in needed.items()) / sum(needed.values())

    correct, false = sum(right.values()), sum(wrong.values())
    precision = correct / (correct + FALSE_COST * false) if correct + false else 0.0
    recall = CORE_SHARE * stated(core) + (1 - CORE_SHARE) * stated(detail) if detail else stated(core)
    needed = core | detail
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
