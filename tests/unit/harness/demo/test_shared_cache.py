"""The shared cache is never followed through a symlink: planted links and loops refuse the share in one line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from harness.demo import seed as seed_module
from harness.demo.bundled_models import share_built
from harness.demo.hub_mirror import MirrorError, folder_files, publish
from harness.demo.shared_cache import SharedCacheError, link_tree
from harness.settings.paths import bundled_dir

NAME = "smollm2-135m-instruct"


def _built(cache: Path) -> Path:
    """A finished bundled model in `cache`, as `ensure_built` leaves it (folder + `.done` marker)."""
    folder = bundled_dir(cache) / NAME
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "sub" / "weights.bin").write_bytes(b"\0" * 64)
    (bundled_dir(cache) / f"{NAME}.done").write_text("ok\n")
    return folder


def test_a_clean_share_hardlinks_every_file(tmp_path: Path) -> None:
    folder = _built(tmp_path / "shared")
    assert share_built(tmp_path / "shared", tmp_path / "own") == [NAME]
    copy = bundled_dir(tmp_path / "own") / NAME
    assert [rel for rel, _ in folder_files(copy)] == ["config.json", "sub/weights.bin"]
    assert os.stat(copy / "config.json").st_ino == os.stat(folder / "config.json").st_ino
    assert (bundled_dir(tmp_path / "own") / f"{NAME}.done").is_file()


def test_planted_symlink_to_an_outside_file_is_neither_linked_nor_published(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the operator's private key")
    folder = _built(tmp_path / "shared")
    os.symlink(secret, folder / "tokenizer.json")
    with pytest.raises(SharedCacheError, match=r"tokenizer\.json is a symlink"):
        share_built(tmp_path / "shared", tmp_path / "own")
    own = bundled_dir(tmp_path / "own")
    assert not (own / NAME).exists() and not (own / f"{NAME}.done").exists()
    assert all(os.stat(p).st_ino != os.stat(secret).st_ino for p in own.rglob("*") if p.is_file())
    with pytest.raises(MirrorError, match="symlinks"):  # and the mirror refuses the folder itself
        publish(folder, "demo/leak", tmp_path / "mirror")
    assert not any(p.is_file() and p.read_bytes() == secret.read_bytes() for p in (tmp_path / "mirror").rglob("*"))


@pytest.mark.parametrize("planted", ["done-marker", "bundled-dir", "target-marker"])
def test_links_around_the_model_are_refused_too(tmp_path: Path, planted: str) -> None:
    _built(tmp_path / "shared")
    outside = tmp_path / "outside"
    outside.mkdir()
    if planted == "done-marker":
        marker = bundled_dir(tmp_path / "shared") / f"{NAME}.done"
        marker.unlink()
        os.symlink(outside / "x", marker)
    elif planted == "bundled-dir":
        (tmp_path / "own").mkdir()
        os.symlink(outside, bundled_dir(tmp_path / "own"))  # the share would write through it
    else:
        bundled_dir(tmp_path / "own").mkdir(parents=True)
        os.symlink(outside / "victim", bundled_dir(tmp_path / "own") / f"{NAME}.done")
    with pytest.raises(SharedCacheError, match="is a symlink"):
        share_built(tmp_path / "shared", tmp_path / "own")
    assert list(outside.iterdir()) == []


def test_a_directory_loop_is_one_line_not_a_recursion_error(tmp_path: Path) -> None:
    folder = _built(tmp_path / "shared")
    os.symlink("..", folder / "sub" / "up")
    with pytest.raises(SharedCacheError, match="up is a symlink") as info:
        share_built(tmp_path / "shared", tmp_path / "own")
    assert "\n" not in str(info.value)


def test_a_looping_shared_cache_dir_is_logged_in_one_line_and_the_seed_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    loop_a, loop_b = tmp_path / "a", tmp_path / "b"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    with pytest.raises(SharedCacheError, match="cannot use"):
        share_built(loop_a, tmp_path / "own")
    with caplog.at_level(logging.WARNING):
        seed_module._share(loop_a, tmp_path / "own")  # what the seed calls: sharing only saves time
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert "demo.share_skipped" in logged and "Traceback" not in logged


def test_link_tree_refuses_special_files(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    os.mkfifo(source / "pipe")
    with pytest.raises(SharedCacheError, match="neither a regular file nor a directory"):
        link_tree(source, tmp_path / "dst")


def test_publish_never_places_a_link_in_the_mirror(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    os.symlink("..", model / "sub" / "loop")
    with pytest.raises(MirrorError, match="symlinks"):
        publish(model, "acme/loop", tmp_path / "mirror")
    (model / "sub" / "loop").unlink()
    published = publish(model, "acme/loop", tmp_path / "mirror", link=True)
    assert all(not p.is_symlink() for p in published.path.rglob("*"))
