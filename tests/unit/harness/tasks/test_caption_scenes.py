"""Procedural caption scenes: the variety the issue asks for, a truth that matches the pixels, and byte-identical
output across processes."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import random
import subprocess
import sys
from collections import Counter

from PIL import Image

from harness.tasks import build_family, caption_gen
from harness.tasks.config import TasksConfig

N_SCENES = 300


@functools.cache
def _scenes(seed: int = 7, n: int = N_SCENES, size: int = 224) -> list[tuple[bytes, dict]]:
    rng = random.Random(seed)
    return [caption_gen.render_scene(rng, size) for _ in range(n)]


def test_scenes_cover_the_vocabulary_the_issue_asks_for() -> None:
    truths = [truth for _, truth in _scenes()]
    objects = [o for t in truths for o in t["objects"]]
    assert len(caption_gen.SHAPES) >= 8 and {o["shape"] for o in objects} == set(caption_gen.SHAPES)
    assert len(caption_gen.COLOURS) == 10 and {o["colour"] for o in objects} == set(caption_gen.COLOURS)
    assert {o["size"] for o in objects} == {"small", "medium", "large"}
    assert {c for t in truths for c in t["counts"].values()} == {1, 2, 3, 4, 5}
    assert {r["relation"] for t in truths for r in t["relations"]} == set(caption_gen.RELATIONS)
    assert {t["background"] for t in truths} == set(caption_gen.BACKGROUNDS)
    assert {t["texture"] for t in truths} == set(caption_gen.TEXTURES)
    texts = Counter(t["text"] is not None for t in truths)
    assert texts[True] > 50 and texts[False] > 50


def test_truth_is_consistent_and_json_serialisable() -> None:
    for _, truth in _scenes()[:100]:
        assert json.loads(json.dumps(truth)) == truth
        kinds = Counter(f"{o['colour']} {o['shape']}" for o in truth["objects"])
        assert dict(kinds) == truth["counts"]
        # Groups are told apart by colour alone and by shape alone; no shape has the background's colour.
        colours = [k.split()[0] for k in truth["counts"]]
        shapes = [k.split()[1] for k in truth["counts"]]
        assert len(set(colours)) == len(colours) and len(set(shapes)) == len(shapes)
        assert caption_gen.BACKGROUNDS[truth["background"]][1] not in colours
        for relation in truth["relations"]:
            assert relation["subject"] in truth["counts"] and relation["object"] in truth["counts"]


def test_each_object_is_drawn_in_its_colour_where_the_truth_says() -> None:
    """The truth matches the pixels: each object's centre has its colour (hosts aside: a shape sits on them)."""
    checked = 0
    for png, truth in _scenes()[:120]:
        image = Image.open(io.BytesIO(png)).convert("RGB")
        hosts = {r["object"] for r in truth["relations"] if r["relation"] in ("inside", "overlapping")}
        for obj in truth["objects"]:
            if f"{obj['colour']} {obj['shape']}" in hosts:
                continue
            x0, y0, x1, y1 = obj["box"]
            assert image.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == caption_gen.COLOURS[obj["colour"]], obj
            checked += 1
    assert checked > 300


def test_relations_match_the_geometry() -> None:
    for _, truth in _scenes()[:150]:
        boxes: dict[str, list[list[int]]] = {}
        for obj in truth["objects"]:
            boxes.setdefault(f"{obj['colour']} {obj['shape']}", []).append(obj["box"])
        for relation in truth["relations"]:
            a, b = boxes[relation["subject"]], boxes[relation["object"]]
            if relation["relation"] == "left of":
                assert max(x1 for _, _, x1, _ in a) < min(x0 for x0, _, _, _ in b)
            elif relation["relation"] == "above":
                assert max(y1 for _, _, _, y1 in a) < min(y0 for _, y0, _, _ in b)
            elif relation["relation"] == "inside":
                (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a[0], b[0]
                assert bx0 < ax0 and by0 < ay0 and ax1 < bx1 and ay1 < by1
            else:
                (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a[0], b[0]
                assert ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1  # boxes intersect
                assert (ax0, ay0) != (bx0, by0)  # but are not the same place


def test_objects_stay_on_the_canvas() -> None:
    for size in (64, 512):
        for _, truth in _scenes(n=60, size=size):
            for obj in truth["objects"]:
                x0, y0, x1, y1 = obj["box"]
                assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size, (size, obj)


def test_describe_states_every_fact_in_varied_wording() -> None:
    for index, (_, truth) in enumerate(_scenes()[:50]):
        wordings = {caption_gen.describe(truth, random.Random(f"{index}-{k}")) for k in range(6)}
        assert len(wordings) >= 3
        for caption in wordings:
            lowered = caption.lower()
            for name in truth["counts"]:
                colour, shape = name.split()
                assert colour in lowered and shape in lowered
            assert truth["background"] in lowered
            if truth["text"]:
                assert truth["text"] in caption


_CHILD = """
import hashlib, json, random, sys
from harness.tasks import build_family, caption_gen
from harness.tasks.taskset import rng_for
rng = random.Random(11)
digest = hashlib.sha256()
for _ in range(20):
    png, truth = caption_gen.render_scene(rng, 224)
    digest.update(png)
    digest.update(json.dumps(truth, sort_keys=True).encode())
tasks = caption_gen.generate(10, rng_for("s", "caption", "procedural"), 160, "Describe.")
digest.update(json.dumps(tasks, sort_keys=True).encode())
print(digest.hexdigest())
"""


def test_scenes_are_byte_identical_across_processes() -> None:
    """Two fresh interpreters (different hash seeds) draw the same bytes and the same truths."""
    runs = {
        subprocess.run(
            [sys.executable, "-c", _CHILD],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(runs) == 1 and len(runs.pop()) == 64


def test_different_seeds_give_different_scenes() -> None:
    first = {hashlib.sha256(png).hexdigest() for png, _ in _scenes(seed=1, n=30)}
    second = {hashlib.sha256(png).hexdigest() for png, _ in _scenes(seed=2, n=30)}
    assert len(first) == 30 and not first & second


def test_tasks_carry_the_truth_beside_the_image() -> None:
    tasks = build_family("truth", "caption", 4, TasksConfig(image_size=96))["tasks"]
    for task in tasks:
        url = task["messages"][0]["content"][1]["image_url"]["url"]
        png = base64.b64decode(url.split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).size == (96, 96)
        assert set(task["truth"]) >= {"objects", "counts", "relations", "background", "texture", "text"}
        assert len(task["references"]) == 4 and len(set(task["references"])) >= 2
