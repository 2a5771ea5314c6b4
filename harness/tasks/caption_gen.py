"""Procedural caption tasks: seeded scenes drawn with Pillow, each with a structured ground truth.

A scene is one to three groups of identical shapes (each group one colour, one shape, one size, 1-5 copies), laid
out left to right or top to bottom, sometimes with one more shape inside or overlapping a single-copy group, on a
plain or textured background, sometimes with a short word printed at the bottom. The scene is known exactly, so
its ground truth (`truth`) is right by construction and lets the scorer check each fact a caption asserts; a
fresh seed gives images no model has seen. Groups never share a colour or a shape, so "the red one" or "the
stars" names exactly one group, and no shape has the background's colour.

Everything is drawn from integer pixel coordinates with the same Pillow, so the PNG bytes of a seed are identical
in every process, which keeps task sets hashable.

Public entry points: `generate` (task dicts for a round), `render_scene` (one image and its truth from an rng,
for making training data), `describe` (a correct caption of a truth in varied wording).
"""

from __future__ import annotations

import base64
import io
import math
import random

from PIL import Image, ImageDraw, ImageFont

from harness.tasks.prompts import image_message
from harness.tasks.toolcall_library import number_word

COLOURS = {
    "red": (215, 35, 35),
    "green": (40, 150, 60),
    "blue": (35, 75, 215),
    "yellow": (240, 205, 30),
    "purple": (130, 55, 165),
    "orange": (245, 135, 25),
    "black": (20, 20, 20),
    "pink": (245, 120, 180),
    "brown": (120, 75, 35),
    "grey": (120, 120, 120),
}
# Each background names the shape colour it could be mistaken for; shapes of that colour are not drawn on it.
BACKGROUNDS = {
    "white": ((255, 255, 255), None),
    "light grey": ((218, 218, 218), "grey"),
    "pale blue": ((200, 222, 245), "blue"),
    "pale yellow": ((250, 244, 200), "yellow"),
    "pale green": ((210, 238, 210), "green"),
}
TEXTURES = ("plain", "striped", "dotted", "checkered")
SHAPES = ("circle", "square", "triangle", "star", "diamond", "hexagon", "pentagon", "cross")
SIZES = {"small": 0.45, "medium": 0.7, "large": 0.95}
WORDS = ("HELLO", "STOP", "OPEN", "SALE", "EXIT", "CAFE", "BUS", "ZOO", "PARK", "BOOK", "RAIN", "GOAL")
RELATIONS = ("left of", "above", "inside", "overlapping")
MAX_COUNT = 5


def plural(shape: str, count: int) -> str:
    if count == 1:
        return shape
    return shape + "es" if shape.endswith(("s", "x")) else shape + "s"


def kind(obj: dict) -> str:
    """A group's name in the truth: colour and shape, unique within a scene."""
    return f"{obj['colour']} {obj['shape']}"


# ---------------------------------------------------------------------------------------------------- sampling


def sample_scene(rng: random.Random) -> dict:
    """The abstract scene: groups, layout, an optional companion shape, background, texture and text."""
    background = rng.choice(sorted(BACKGROUNDS))
    texture = rng.choice(TEXTURES)
    avoid = BACKGROUNDS[background][1]
    n_groups = rng.choice((1, 2, 2, 3, 3))
    companion_relation = rng.choice(("inside", "overlapping")) if rng.random() < 0.35 else None
    palette = [c for c in sorted(COLOURS) if c != avoid]
    colours = rng.sample(palette, n_groups + (1 if companion_relation else 0))
    shapes = rng.sample(SHAPES, n_groups + (1 if companion_relation else 0))
    groups = [
        {
            "shape": shapes[i],
            "colour": colours[i],
            "size": rng.choice(sorted(SIZES)),
            "count": rng.randint(1, MAX_COUNT),
        }
        for i in range(n_groups)
    ]
    companion = None
    if companion_relation:
        host = rng.randrange(n_groups)
        groups[host]["count"] = 1
        if companion_relation == "overlapping" and groups[host]["size"] == "large":
            groups[host]["size"] = "medium"  # two large shapes side by side would not fit a square region
        if companion_relation == "inside":
            groups[host]["size"] = "large"
            # A cross or star leaves little room inside: the host is a roomy shape.
            if groups[host]["shape"] in ("cross", "star", "triangle"):
                roomy = [s for s in ("circle", "square", "hexagon", "pentagon", "diamond") if s not in shapes]
                groups[host]["shape"] = rng.choice(roomy)
        companion = {
            "shape": shapes[-1],
            "colour": colours[-1],
            "size": "small" if companion_relation == "inside" else groups[host]["size"],
            "count": 1,
            "host": host,
            "relation": companion_relation,
        }
    layout = rng.choice(("row", "column")) if n_groups > 1 else "row"
    text = rng.choice(WORDS) if rng.random() < 0.35 else None
    return {
        "background": background,
        "texture": texture,
        "layout": layout,
        "groups": groups,
        "companion": companion,
        "text": text,
    }


# ---------------------------------------------------------------------------------------------------- drawing


def _polygon(shape: str, cx: int, cy: int, r: int) -> list[tuple[int, int]]:
    """Integer vertices of a regular shape of circumradius r centred on (cx, cy)."""

    def ring(n: int, radius: float, start: float) -> list[tuple[float, float]]:
        return [
            (cx + radius * math.cos(start + 2 * math.pi * k / n), cy + radius * math.sin(start + 2 * math.pi * k / n))
            for k in range(n)
        ]

    up = -math.pi / 2
    if shape == "triangle":
        points = ring(3, r, up)
    elif shape == "diamond":
        points = [(cx, cy - r), (cx + r * 0.7, cy), (cx, cy + r), (cx - r * 0.7, cy)]
    elif shape == "hexagon":
        points = ring(6, r, 0)
    elif shape == "pentagon":
        points = ring(5, r, up)
    elif shape == "star":
        outer, inner = ring(5, r, up), ring(5, r * 0.42, up + math.pi / 5)
        points = [p for pair in zip(outer, inner, strict=True) for p in pair]
    elif shape == "cross":
        a, b = r, r * 0.36
        points = [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b)]
        points += [(-b, -b)]
        points = [(cx + x, cy + y) for x, y in points]
    else:
        raise ValueError(f"no polygon for {shape!r}")
    return [(round(x), round(y)) for x, y in points]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: int, cy: int, r: int, fill: tuple[int, int, int]) -> None:
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        s = round(r * 0.8)
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill)
    else:
        draw.polygon(_polygon(shape, cx, cy, r), fill=fill)


def _draw_texture(draw: ImageDraw.ImageDraw, texture: str, size: int, base: tuple[int, int, int]) -> None:
    tint = tuple(max(0, c - 28) for c in base)
    step = max(8, size // 14)
    if texture == "striped":
        for x in range(-size, size, step):
            draw.line((x, size, x + size, 0), fill=tint, width=max(1, step // 4))
    elif texture == "dotted":
        dot = max(1, step // 6)
        for y in range(step // 2, size, step):
            for x in range(step // 2, size, step):
                draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=tint)
    elif texture == "checkered":
        for y in range(0, size, step):
            for x in range(0, size, step):
                if (x // step + y // step) % 2:
                    draw.rectangle((x, y, x + step - 1, y + step - 1), fill=tint)


def _position_label(cx: float, cy: float, width: float, height: float) -> str:
    col = ("left", "center", "right")[min(2, int(3 * cx / width))]
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / height))]
    if row == "middle":
        return "center" if col == "center" else col
    return row if col == "center" else f"{row} {col}"


def _place(scene: dict, size: int) -> list[dict]:
    """Every drawn object with its integer centre and radius, groups first, the companion last."""
    text_band = round(size * 0.2) if scene["text"] else 0
    height = size - text_band
    groups = scene["groups"]
    n = len(groups)
    placed = []
    for index, group in enumerate(groups):
        count = group["count"]
        if scene["layout"] == "row":
            region = (size * index / n, 0, size / n, height)
        else:
            region = (0, height * index / n, size, height / n)
        left, top, width, tall = region
        # Copies line up along the region's long side.
        along_x = width >= tall
        cell = min(width / count if along_x else width, tall if along_x else tall / count)
        radius = max(3, round(cell / 2 * 0.85 * SIZES[group["size"]]))
        for k in range(count):
            if along_x:
                cx, cy = left + width * (k + 0.5) / count, top + tall / 2
            else:
                cx, cy = left + width / 2, top + tall * (k + 0.5) / count
            placed.append({**group, "group": index, "cx": round(cx), "cy": round(cy), "r": radius, "along_x": along_x})
    companion = scene["companion"]
    if companion:
        host = next(p for p in placed if p["group"] == companion["host"])
        if companion["relation"] == "inside":
            r = max(3, round(host["r"] * 0.38))
            cx, cy = host["cx"], host["cy"]
        else:
            # Offset along the host region's long side, where there is room for a second shape.
            # The pair is centred where the host alone would be.
            r, shift = host["r"], round(host["r"] * 0.9)
            axis = "cx" if host["along_x"] else "cy"
            host[axis] -= shift // 2
            cx, cy = host["cx"], host["cy"]
            if host["along_x"]:
                cx += shift
            else:
                cy += shift
        placed.append({**companion, "group": n, "cx": cx, "cy": cy, "r": r, "along_x": host["along_x"]})
    return placed


def render(scene: dict, size: int) -> bytes:
    """PNG bytes of a scene; identical for identical (scene, size) in every process."""
    bg_rgb = BACKGROUNDS[scene["background"]][0]
    image = Image.new("RGB", (size, size), bg_rgb)
    draw = ImageDraw.Draw(image)
    _draw_texture(draw, scene["texture"], size, bg_rgb)
    for obj in _place(scene, size):
        _draw_shape(draw, obj["shape"], obj["cx"], obj["cy"], obj["r"], COLOURS[obj["colour"]])
    if scene["text"]:
        band = round(size * 0.2)
        font = ImageFont.load_default(size=max(12, int(band * 0.6)))
        draw.text((size // 2, size - band // 2), scene["text"], fill=(0, 0, 0), font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------- truth


def truth_of(scene: dict, size: int) -> dict:
    """The facts a caption can be checked against (JSON-serialisable; see docs/captions.md)."""
    placed = _place(scene, size)
    height = size - (round(size * 0.2) if scene["text"] else 0)
    objects = [
        {
            "shape": p["shape"],
            "colour": p["colour"],
            "size": p["size"],
            "position": _position_label(p["cx"], p["cy"], size, height),
            "box": [p["cx"] - p["r"], p["cy"] - p["r"], p["cx"] + p["r"], p["cy"] + p["r"]],
        }
        for p in placed
    ]
    groups = list(scene["groups"]) + ([scene["companion"]] if scene["companion"] else [])
    relations = []
    for a, b in zip(scene["groups"], scene["groups"][1:], strict=False):
        relation = "left of" if scene["layout"] == "row" else "above"
        relations.append({"subject": kind(a), "relation": relation, "object": kind(b)})
    companion = scene["companion"]
    if companion:
        host = scene["groups"][companion["host"]]
        relations.append({"subject": kind(companion), "relation": companion["relation"], "object": kind(host)})
    return {
        "objects": objects,
        "counts": {kind(g): g["count"] for g in groups},
        "sizes": {kind(g): g["size"] for g in groups},
        "relations": relations,
        "layout": scene["layout"],
        "background": scene["background"],
        "texture": scene["texture"],
        "text": scene["text"],
    }


def render_scene(rng: random.Random, size: int = 224) -> tuple[bytes, dict]:
    """One fresh scene from `rng`: its PNG bytes and its truth. The same rng state gives the same pair."""
    scene = sample_scene(rng)
    return render(scene, size), truth_of(scene, size)


# ---------------------------------------------------------------------------------------------------- captions


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _groups_of(truth: dict) -> list[dict]:
    return [
        {"colour": name.split(" ", 1)[0], "shape": name.split(" ", 1)[1], "count": count, "size": truth["sizes"][name]}
        for name, count in truth["counts"].items()
    ]


def _phrase(group: dict, rng: random.Random, definite: bool = False) -> str:
    count = group["count"]
    noun = plural(group["shape"], count)
    size = f"{group['size']} " if rng.random() < 0.4 else ""
    if definite:
        return f"the {size}{group['colour']} {noun}"
    if count == 1:
        amount = rng.choice(("a", "one", "a single")) if not size else rng.choice(("a", "one"))
    else:
        amount = number_word(count) if rng.random() < 0.7 else str(count)
    return f"{amount} {size}{group['colour']} {noun}"


def _background_phrase(truth: dict, rng: random.Random) -> str:
    background, texture = truth["background"], truth["texture"]
    pattern = {"plain": "", "striped": "striped ", "dotted": "dotted ", "checkered": "checkered "}[texture]
    if texture == "plain" and rng.random() < 0.5:
        pattern = "plain "
    return rng.choice(
        (
            f"on a {pattern}{background} background",
            f"against a {pattern}{background} backdrop",
            f"set on a {pattern}{background} background",
        )
    )


def _relation_sentence(relation: dict, counts: dict[str, int], rng: random.Random) -> str:
    def named(name: str) -> tuple[str, str]:
        colour, shape = name.split(" ", 1)
        many = counts[name] > 1
        return f"the {colour} {plural(shape, counts[name])}", ("are" if many else "is")

    (subject, s_verb), (obj, o_verb) = named(relation["subject"]), named(relation["object"])
    name = relation["relation"]
    if name == "left of":
        options = (f"{subject} {s_verb} to the left of {obj}", f"{obj} {o_verb} to the right of {subject}")
    elif name == "above":
        options = (f"{subject} {s_verb} above {obj}", f"{obj} {o_verb} below {subject}")
    elif name == "inside":
        options = (f"{subject} sits inside {obj}", f"{subject} is inside {obj}")
    else:
        options = (f"{subject} overlaps {obj}", f"{subject} is overlapping {obj}")
    return rng.choice(options)


def _text_phrase(text: str, rng: random.Random) -> str:
    return rng.choice(
        (
            f'The word "{text}" is written at the bottom.',
            f'Below them the text "{text}" is printed.',
            f'At the bottom it says "{text}".',
        )
    )


def describe(truth: dict, rng: random.Random) -> str:
    """A correct caption of `truth`, worded by `rng`: every group with its count and colour, the relations,
    the background and any text. Different rngs give different wordings of the same facts."""
    groups = _groups_of(truth)
    order = list(range(len(groups)))
    if rng.random() < 0.5:
        rng.shuffle(order)
    listed = _join([_phrase(groups[i], rng) for i in order])
    background = _background_phrase(truth, rng)
    opener = rng.choice(("", "There is ", "The image shows ", "This picture has ", "We see "))
    if opener == "There is " and not (len(groups) == 1 and groups[0]["count"] == 1):
        opener = "There are "
    first = f"{opener}{listed} {background}."
    sentences = [first[0].upper() + first[1:]]
    relations = list(truth["relations"])
    rng.shuffle(relations)
    if relations:
        joined = _join([_relation_sentence(r, truth["counts"], rng) for r in relations])
        sentences.append(joined[0].upper() + joined[1:] + ".")
    if truth["text"]:
        sentences.append(_text_phrase(truth["text"], rng))
    return " ".join(sentences)


def references(truth: dict, rng: random.Random, n: int = 4) -> list[str]:
    """Reference captions for the embedding (fluency) part of the score and for scoring without a truth."""
    return [describe(truth, rng) for _ in range(n)]


def generate(n: int, rng: random.Random, size: int, prompt: str) -> list[dict]:
    tasks = []
    for _ in range(n):
        scene = sample_scene(rng)
        truth = truth_of(scene, size)
        url = "data:image/png;base64," + base64.b64encode(render(scene, size)).decode("ascii")
        tasks.append(
            {
                "family": "caption",
                "category": "caption",
                "source": "procedural",
                "truth": truth,
                "prompt": prompt,
                "messages": image_message(prompt, url),
                "references": references(truth, rng),
            }
        )
    return tasks
