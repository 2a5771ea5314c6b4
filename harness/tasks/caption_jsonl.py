"""Caption tasks from an image-caption dataset in JSONL form, one object a line:

    {"id": "optional-id", "image": "images/0001.png", "captions": ["a dog on a beach", "..."]}

`image` is a path relative to the JSONL file, or a `data:image/...;base64,` URL. `captions` holds one or more
reference captions. Lines that break these rules are reported with their line number.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import random
from pathlib import Path

from harness.errors import HarnessError
from harness.tasks.prompts import image_message

_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


def _data_url(base: Path, image: str, where: str) -> str:
    if image.startswith("data:image/"):
        return image
    path = (base / image).resolve()
    if not path.is_relative_to(base.resolve()):
        raise HarnessError(f"{where}: image path {image!r} leaves the dataset folder")
    mime = mimetypes.guess_type(path.name)[0]
    if mime not in _IMAGE_TYPES:
        raise HarnessError(f"{where}: {image!r} is not a png, jpeg, webp or gif image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{where}: cannot read {image!r}: {exc.strerror}") from None
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def load(path: Path, prompt: str) -> list[dict]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read caption dataset {path}: {exc}") from None
    tasks = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{where}: not JSON ({exc.msg})") from None
        captions = row.get("captions") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not isinstance(row.get("image"), str):
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
                "messages": image_message(prompt, _data_url(path.parent, row["image"], where)),
                "references": captions,
            }
        )
    return tasks


def sample(path: Path, prompt: str, n: int, rng: random.Random) -> list[dict]:
    pool = load(path, prompt)
    if not pool:
        raise HarnessError(f"caption dataset {path} is empty")
    return rng.sample(pool, min(n, len(pool)))
