"""Procedural caption tasks: seeded scenes of shapes (colour, count, position, optional short text) drawn
with Pillow, each with several reference captions written from the same scene description.

A scene is known exactly, so its references are right by construction, and a fresh seed gives images no model
has seen. PNG encoding of the same pixels with the same Pillow is byte-stable, which keeps task sets hashable.
"""

from __future__ import annotations

import base64
import io
import random

from PIL import Image, ImageDraw, ImageFont

from harness.tasks.prompts import image_message
from harness.tasks.toolcall_library import number_word

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 170),
    "orange": (245, 140, 30),
    "black": (20, 20, 20),
}
BACKGROUNDS = {"white": (255, 255, 255), "light grey": (215, 215, 215), "pale blue": (200, 225, 245)}
SHAPES = ("circle", "square", "triangle")
WORDS = ("HELLO", "STOP", "OPEN", "SALE", "EXIT", "CAFE", "BUS", "ZOO")
_COLUMNS = {1: ("center",), 2: ("left", "right"), 3: ("left", "center", "right")}


def _plural(shape: str, count: int) -> str:
    return shape if count == 1 else shape + "s"


def sample_scene(rng: random.Random) -> dict:
    n_groups = rng.randint(1, 3)
    shapes = rng.sample(SHAPES, n_groups)
    colours = rng.sample(sorted(COLOURS), n_groups)
    groups = [
        {"shape": s, "colour": c, "count": rng.randint(1, 3), "position": pos}
        for s, c, pos in zip(shapes, colours, _COLUMNS[n_groups], strict=True)
    ]
    background = rng.choice(sorted(BACKGROUNDS))
    text = rng.choice(WORDS) if rng.random() < 0.4 else None
    return {"background": background, "groups": groups, "text": text}


def render(scene: dict, size: int) -> bytes:
    image = Image.new("RGB", (size, size), BACKGROUNDS[scene["background"]])
    draw = ImageDraw.Draw(image)
    groups = scene["groups"]
    column_width = size / len(groups)
    text_band = size * 0.2 if scene["text"] else 0
    for index, group in enumerate(groups):
        left = index * column_width
        cell = min(column_width * 0.7, (size - text_band) / (group["count"] + 0.5))
        for k in range(group["count"]):
            cx = left + column_width / 2
            cy = (size - text_band) * (k + 0.5) / group["count"]
            box = (cx - cell / 2.4, cy - cell / 2.4, cx + cell / 2.4, cy + cell / 2.4)
            fill = COLOURS[group["colour"]]
            if group["shape"] == "circle":
                draw.ellipse(box, fill=fill)
            elif group["shape"] == "square":
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=fill)
    if scene["text"]:
        font = ImageFont.load_default(size=max(12, int(text_band * 0.6)))
        draw.text((size / 2, size - text_band / 2), scene["text"], fill=(0, 0, 0), font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def references(scene: dict) -> list[str]:
    groups = scene["groups"]
    counted = [f"{number_word(g['count'])} {g['colour']} {_plural(g['shape'], g['count'])}" for g in groups]
    digits = [f"{g['count']} {g['colour']} {_plural(g['shape'], g['count'])}" for g in groups]
    placed = [
        f"{c} {'in the middle' if g['position'] == 'center' else 'on the ' + g['position']}"
        for c, g in zip(counted, groups, strict=True)
    ]

    def join(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    background = scene["background"]
    verb = "is" if len(groups) == 1 and groups[0]["count"] == 1 else "are"
    text = f' with the word "{scene["text"]}" written at the bottom' if scene["text"] else ""
    word = f' and the text "{scene["text"]}"' if scene["text"] else ""
    return [
        f"{join(counted).capitalize()} on a {background} background{text}.",
        f"A {background} image showing {join(placed)}{word}.",
        f"There {verb} {join(digits)}{word} on a plain {background} background.",
        f"Simple geometric shapes: {join(counted)}{text}.",
    ]


def generate(n: int, rng: random.Random, size: int, prompt: str) -> list[dict]:
    tasks = []
    for _ in range(n):
        scene = sample_scene(rng)
        url = "data:image/png;base64," + base64.b64encode(render(scene, size)).decode("ascii")
        tasks.append(
            {
                "family": "caption",
                "category": "caption",
                "source": "procedural",
                "scene": scene,
                "prompt": prompt,
                "messages": image_message(prompt, url),
                "references": references(scene),
            }
        )
    return tasks
