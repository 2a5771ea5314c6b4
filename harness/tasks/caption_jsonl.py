"""Caption tasks from an image-caption dataset in JSONL form, one object a line:

    {"id": "optional-id", "image": "images/0001.png", "captions": ["a dog on a beach", "..."]}

`image` is a path relative to the JSONL file, or a `data:image/...;base64,` URL. `captions` holds one or more
reference captions. Lines that break these rules are reported with their line number, and so is an image over
the size limits (`tasks.max_image_bytes`, `tasks.max_image_pixels`): every caption request carries its image,
so one oversized picture would otherwise reach every model's engine (its request cap, its memory).

The pool is an operator's file, but its images are outside bytes: Pillow opens each one only as the format its
name (or data URL) declares, with its decompression-bomb limit set to `tasks.max_image_pixels` and its warning
turned into a refusal, and the size the header declares is checked before any pixel is decoded. A bomb (a few
bytes that claim billions of pixels) is one line of the pool, refused with its number.

Memory follows the tasks drawn, not the pool: `scan` checks every line (structure, path, file size, the header's
declared size; nothing decoded, nothing kept but the line's fields), and only the lines a round draws are read
in full, decoded within the limits and encoded as data URLs (`materialize`).
"""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
import random
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.errors import HarnessError
from harness.tasks.jsonl import read_objects
from harness.tasks.prompts import image_message

# Declared type -> the one Pillow format allowed to read it (a PPM named .png is not read as a PPM).
_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
# What Pillow raises for bytes that are not the image they claim (beyond OSError/ValueError).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 4 * 1024 * 1024
    max_pixels: int = 4096 * 4096


@dataclass(frozen=True)
class PoolLine:
    """One checked line of the pool: where it is, its image reference as written, its captions. No pixels."""

    where: str
    source: str
    image: str
    mime: str
    captions: tuple[str, ...]


def _open_checked(stream: IO[bytes], mime: str, where: str, limits: ImageLimits, *, decode: bool) -> None:
    """Opens `stream` as `mime`'s format only, with Pillow's bomb limit set explicitly to `limits.max_pixels`;
    checks the declared size; with `decode`, decodes the pixels (within that size) so a corrupt image is
    refused here rather than in every model's engine."""
    from PIL import Image, UnidentifiedImageError

    # Set for each open, not left to Pillow's default (~89 M pixels warns, ~179 M raises): over twice the limit
    # Pillow refuses in `open`; between once and twice, its warning is silenced and the check below refuses.
    # Put back afterwards: the setting is Pillow's global, and other code of the process opens other images.
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream, formats=[_FORMATS[mime]]) as picture:
                width, height = picture.size  # from the header; nothing decoded yet
                if width * height > limits.max_pixels:
                    raise HarnessError(
                        f"{where}: image of {width}x{height} pixels exceeds tasks.max_image_pixels "
                        f"({limits.max_pixels})"
                    )
                if decode:
                    picture.load()
    except Image.DecompressionBombError as exc:
        raise HarnessError(
            f"{where}: image refused before decoding, it exceeds tasks.max_image_pixels ({limits.max_pixels}): {exc}"
        ) from None
    except UnidentifiedImageError:
        raise HarnessError(f"{where}: not a readable image (not {_FORMATS[mime]} data)") from None
    except _DECODE_ERRORS as exc:
        raise HarnessError(f"{where}: not a readable image ({type(exc).__name__}: {exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _data_url_bytes(image: str, where: str, limits: ImageLimits) -> tuple[str, bytes]:
    header, _, encoded = image.partition(",")
    mime = header.removeprefix("data:").removesuffix(";base64")
    if not header.endswith(";base64") or len(encoded) > 4 * ((limits.max_bytes + 2) // 3):
        raise HarnessError(f"{where}: data URL is not base64 or exceeds tasks.max_image_bytes ({limits.max_bytes})")
    if mime not in _FORMATS:
        raise HarnessError(f"{where}: data URL is not a png, jpeg, webp or gif image")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise HarnessError(f"{where}: data URL is not valid base64") from None
    if len(data) > limits.max_bytes:
        raise HarnessError(f"{where}: image of {len(data)} bytes exceeds tasks.max_image_bytes ({limits.max_bytes})")
    return mime, data


def _file_of(base: Path, image: str, where: str, limits: ImageLimits) -> tuple[Path, str]:
    path = (base / image).resolve()
    if not path.is_relative_to(base.resolve()):
        raise HarnessError(f"{where}: image path {image!r} leaves the dataset folder")
    mime = mimetypes.guess_type(path.name)[0]
    if mime not in _FORMATS:
        raise HarnessError(f"{where}: {image!r} is not a png, jpeg, webp or gif image")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise HarnessError(f"{where}: cannot read {image!r}: {exc.strerror}") from None
    if size > limits.max_bytes:  # not read at all
        raise HarnessError(f"{where}: {image!r} exceeds tasks.max_image_bytes ({limits.max_bytes})")
    return path, mime


def _check_line(base: Path, image: str, where: str, limits: ImageLimits) -> str:
    """The image's type, after its bytes and declared size passed the limits (header only; no pixel decoded)."""
    if image.startswith("data:"):
        mime, data = _data_url_bytes(image, where, limits)
        _open_checked(io.BytesIO(data), mime, where, limits, decode=False)
        return mime
    path, mime = _file_of(base, image, where, limits)
    try:
        with open(path, "rb") as stream:  # Pillow reads the header from the stream, not the whole file
            _open_checked(stream, mime, where, limits, decode=False)
    except OSError as exc:
        raise HarnessError(f"{where}: cannot read {image!r}: {exc.strerror}") from None
    return mime


def scan(path: Path, limits: ImageLimits | None = None) -> list[PoolLine]:
    """Every line of the pool checked (structure, image type, bytes, declared size); nothing decoded or kept."""
    path = Path(path)
    limits = limits or ImageLimits()
    pool = []
    for number, row in read_objects(path, "caption dataset"):
        where = f"{path}:{number}"
        image, captions = row.get("image"), row.get("captions")
        if not isinstance(image, str):
            raise HarnessError(f"{where}: needs an 'image' string")
        if (
            not isinstance(captions, list)
            or not captions
            or not all(isinstance(c, str) and c.strip() for c in captions)
        ):
            raise HarnessError(f"{where}: needs 'captions', a non-empty list of non-empty strings")
        mime = _check_line(path.parent, image, where, limits)
        pool.append(PoolLine(where, f"jsonl:{row.get('id', number)}", image, mime, tuple(captions)))
    return pool


def materialize(line: PoolLine, base: Path, prompt: str, limits: ImageLimits | None = None) -> dict:
    """The caption task of one pool line: its image read, decoded within the limits, sent as a data URL."""
    limits = limits or ImageLimits()
    if line.image.startswith("data:"):
        _mime, data = _data_url_bytes(line.image, line.where, limits)
        url = line.image
    else:
        path, _mime = _file_of(base, line.image, line.where, limits)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise HarnessError(f"{line.where}: cannot read {line.image!r}: {exc.strerror}") from None
        if len(data) > limits.max_bytes:  # the file grew since the scan
            raise HarnessError(f"{line.where}: {line.image!r} exceeds tasks.max_image_bytes ({limits.max_bytes})")
        url = f"data:{line.mime};base64," + base64.b64encode(data).decode("ascii")
    _open_checked(io.BytesIO(data), line.mime, line.where, limits, decode=True)
    return {
        "family": "caption",
        "category": "caption",
        "source": line.source,
        "prompt": prompt,
        "messages": image_message(prompt, url),
        "references": list(line.captions),
    }


def load(path: Path, prompt: str, limits: ImageLimits | None = None) -> list[dict]:
    """Every line of the pool as a task (every image read and decoded: for small sets and tests)."""
    path = Path(path)
    return [materialize(line, path.parent, prompt, limits) for line in scan(path, limits)]


def sample(path: Path, prompt: str, n: int, rng: random.Random, limits: ImageLimits | None = None) -> list[dict]:
    """`n` lines drawn from the pool (every line checked), only the drawn ones read and decoded."""
    path = Path(path)
    pool = scan(path, limits)
    if not pool:
        raise HarnessError(f"caption dataset {path} is empty")
    return [materialize(line, path.parent, prompt, limits) for line in rng.sample(pool, min(n, len(pool)))]
