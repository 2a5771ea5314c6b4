"""Caption tasks from an image-caption dataset in JSONL form, one object a line:

    {"id": "optional-id", "image": "images/0001.png", "captions": ["a dog on a beach", "..."]}

`image` is a path relative to the JSONL file, or a `data:image/...;base64,` URL. `captions` holds one or more
reference captions. Lines that break these rules are reported with their line number, and so is an image over
the size limits (`tasks.max_image_bytes`, `tasks.max_image_pixels`): every caption request carries its image,
so one oversized picture would otherwise reach every model's engine (its request cap, its memory).
"""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
import random
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.tasks.jsonl import read_objects
from harness.tasks.prompts import image_message

_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 4 * 1024 * 1024
    max_pixels: int = 4096 * 4096


def _check_image(data: bytes, where: str, limits: ImageLimits) -> None:
    """Size first (cheap), then the header's dimensions (Pillow reads only the header here, decodes nothing)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > limits.max_bytes:
        raise HarnessError(f"{where}: image of {len(data)} bytes exceeds tasks.max_image_bytes ({limits.max_bytes})")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HarnessError(f"{where}: not a readable image ({exc})") from None
    if width * height > limits.max_pixels:
        raise HarnessError(
            f"{where}: image of {width}x{height} pixels exceeds tasks.max_image_pixels ({limits.max_pixels})"
        )


def _data_url(base: Path, image: str, where: str, limits: ImageLimits) -> str:
    if image.startswith("data:image/"):
        header, _, encoded = image.partition(",")
        if not header.endswith(";base64") or len(encoded) > 4 * ((limits.max_bytes + 2) // 3):
            raise HarnessError(f"{where}: data URL is not base64 or exceeds tasks.max_image_bytes ({limits.max_bytes})")
        try:
            _check_image(base64.b64decode(encoded, validate=True), where, limits)
        except binascii.Error:
            raise HarnessError(f"{where}: data URL is not valid base64") from None
        return image
    path = (base / image).resolve()
    if not path.is_relative_to(base.resolve()):
        raise HarnessError(f"{where}: image path {image!r} leaves the dataset folder")
    mime = mimetypes.guess_type(path.name)[0]
    if mime not in _IMAGE_TYPES:
        raise HarnessError(f"{where}: {image!r} is not a png, jpeg, webp or gif image")
    try:
        if path.stat().st_size > limits.max_bytes:  # not read at all
            raise HarnessError(f"{where}: {image!r} exceeds tasks.max_image_bytes ({limits.max_bytes})")
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{where}: cannot read {image!r}: {exc.strerror}") from None
    _check_image(data, where, limits)
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def load(path: Path, prompt: str, limits: ImageLimits | None = None) -> list[dict]:
    path = Path(path)
    tasks = []
    for number, row in read_objects(path, "caption dataset"):
        where = f"{path}:{number}"
        captions = row.get("captions")
        if not isinstance(row.get("image"), str):
            raise HarnessError(f"{where}: needs an 'image' string")
        if (
            not isinstance(captions, list)
            or not captions
            or not all(isinstance(c, str) and c.strip() for c in captions)
        ):
            raise HarnessError(f"{where}: needs 'captions', a non-empty list of non-empty strings")
        tasks.append(
            {
                "family": "caption",
                "category": "caption",
                "source": f"jsonl:{row.get('id', number)}",
                "prompt": prompt,
                "messages": image_message(prompt, _data_url(path.parent, row["image"], where, limits or ImageLimits())),
                "references": captions,
            }
        )
    return tasks


def sample(path: Path, prompt: str, n: int, rng: random.Random, limits: ImageLimits | None = None) -> list[dict]:
    pool = load(path, prompt, limits)
    if not pool:
        raise HarnessError(f"caption dataset {path} is empty")
    return rng.sample(pool, min(n, len(pool)))
