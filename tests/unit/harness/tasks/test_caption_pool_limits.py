"""The operator's caption pool against hostile images: bombs refused as a line with its number (one
`HarnessError`, no Pillow traceback), images of one type decoded only as that type, and memory that follows the
tasks drawn rather than the pool. Every hostile image is generated here, a few bytes each."""

from __future__ import annotations

import io
import json
import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.tasks import caption_jsonl
from harness.tasks.build import build_family
from harness.tasks.config import TasksConfig


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with no pixel data: 45 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"")


# The red team's 17-byte "PNG": a PPM header claiming 65535 x 65535 pixels, in a file named .png.
PPM_AS_PNG = b"P6 65535 65535 1\n"


def _png(side: int, noise: bool = False) -> bytes:
    buf = io.BytesIO()
    if noise:
        Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3)).save(buf, format="PNG")
    else:
        Image.new("RGB", (side, side), (0, 128, 255)).save(buf, format="PNG")
    return buf.getvalue()


def _pool(folder: Path, images: list[str]) -> Path:
    path = folder / "pool.jsonl"
    path.write_text("".join(json.dumps({"image": image, "captions": ["a picture"]}) + "\n" for image in images))
    return path


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bomb.png", PPM_AS_PNG),
        ("bomb.png", png_header_bomb(65536, 65536)),
        ("wide.png", png_header_bomb(1_000_000, 20)),
    ],
)
def test_a_bomb_in_the_pool_is_one_line_error_naming_its_line(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / "ok.png").write_bytes(_png(8))
    (tmp_path / name).write_bytes(data)
    pool = _pool(tmp_path, ["ok.png", "ok.png", name, "ok.png"])
    config = TasksConfig(caption_jsonl=pool, caption_jsonl_fraction=1.0)
    with pytest.raises(HarnessError) as info:
        build_family("seed", "caption", 1, config)  # one task drawn: the bomb is refused all the same
    message = str(info.value)
    assert message.startswith(f"{pool}:3: ") and "\n" not in message, message
    assert "tasks.max_image_pixels" in message or "not a readable image" in message, message


def test_a_bomb_inline_as_a_data_url_is_refused_with_its_line(tmp_path: Path) -> None:
    import base64

    url = "data:image/png;base64," + base64.b64encode(png_header_bomb(65536, 65536)).decode()
    (tmp_path / "ok.png").write_bytes(_png(8))
    pool = _pool(tmp_path, ["ok.png", url])
    with pytest.raises(HarnessError, match=r"pool.jsonl:2: image refused before decoding.*tasks.max_image_pixels"):
        caption_jsonl.scan(pool)


def test_an_image_is_read_only_as_the_type_its_name_declares(tmp_path: Path) -> None:
    """A small, valid PPM named .png: Pillow would read it as a PPM; the pool refuses it as not a PNG."""
    (tmp_path / "fake.png").write_bytes(b"P6 2 2 255\n" + b"\0" * 12)
    with pytest.raises(HarnessError, match=r"pool.jsonl:1: not a readable image \(not PNG data\)"):
        caption_jsonl.scan(_pool(tmp_path, ["fake.png"]))


def test_a_truncated_image_is_refused_when_drawn_not_sent_to_every_engine(tmp_path: Path) -> None:
    (tmp_path / "cut.png").write_bytes(_png(64, noise=True)[:-200])  # header intact, pixel data cut
    with pytest.raises(HarnessError, match=r"pool.jsonl:1: not a readable image"):
        caption_jsonl.load(_pool(tmp_path, ["cut.png"]), "Describe.")


def test_memory_follows_the_tasks_drawn_not_the_pool(tmp_path: Path) -> None:
    """40 images of ~1 MiB each, one task drawn: only that one is read and encoded. Loading the whole pool (what
    main did for every model) is the control that shows the measure sees the difference."""
    image = _png(600, noise=True)
    assert len(image) > 1_000_000
    names = [f"img{i:03}.png" for i in range(40)]
    for name in names:
        (tmp_path / name).write_bytes(image)
    pool = _pool(tmp_path, names)
    limits = caption_jsonl.ImageLimits(max_bytes=2 * 1024 * 1024)

    def peak(call) -> int:
        tracemalloc.start()
        try:
            call()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    drawn = peak(lambda: caption_jsonl.sample(pool, "Describe.", 1, random.Random(0), limits))
    whole = peak(lambda: caption_jsonl.load(pool, "Describe.", limits))
    assert drawn < 5 * len(image), drawn  # one image: its bytes and its base64 (4/3), not 40 of them
    assert whole > 40 * len(image), whole


def test_the_draw_is_the_same_lines_as_before_the_lazy_pool(tmp_path: Path) -> None:
    """Validators must agree: the lines drawn depend only on the seed and the pool's length and order."""
    names = []
    for i in range(12):
        (tmp_path / f"{i}.png").write_bytes(_png(4 + i))
        names.append(f"{i}.png")
    pool = _pool(tmp_path, names)
    drawn = caption_jsonl.sample(pool, "Describe.", 5, random.Random(7))
    expected = random.Random(7).sample(range(12), 5)
    assert [task["source"] for task in drawn] == [f"jsonl:{i + 1}" for i in expected]


def test_pillows_own_bomb_limit_comes_from_the_settings_and_is_put_back(tmp_path: Path) -> None:
    """Pillow's default would let 200x200 through (it refuses from ~179 M pixels); with tasks.max_image_pixels =
    12345 Pillow itself refuses it in the header (over twice the limit), and 150x100 (between once and twice)
    is refused by the pool's own check. Pillow's global is what it was afterwards."""
    before = Image.MAX_IMAGE_PIXELS
    limits = caption_jsonl.ImageLimits(max_pixels=12345)
    (tmp_path / "big.png").write_bytes(png_header_bomb(200, 200))
    with pytest.raises(HarnessError, match=r"refused before decoding.*exceeds limit of 24690 pixels"):
        caption_jsonl.scan(_pool(tmp_path, ["big.png"]), limits)
    (tmp_path / "mid.png").write_bytes(png_header_bomb(150, 100))
    with pytest.raises(HarnessError, match=r"150x100 pixels exceeds tasks.max_image_pixels \(12345\)"):
        caption_jsonl.scan(_pool(tmp_path, ["mid.png"]), limits)
    assert before == Image.MAX_IMAGE_PIXELS
