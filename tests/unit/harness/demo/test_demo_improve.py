"""`harness demo improve`: the improved VLM is committed after every demo miner, once, and only after a seed.

The improved model trains for minutes, so these tests give `ensure_built` a finished build of it in a test cache
(a tiny real safetensors folder under the improved model's own cache name, with its `.done` marker): the code path
is the real one (cache lookup, mirror publish, policy manifest, salted hash, local chain), only the weights are
small. `demo.shared_cache_dir` is empty, so the machine's cache is neither read nor written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.commitment import parse
from chain.factory import open_local_chain
from chain.local import LocalChain
from harness.cli.app import main
from harness.demo.bundled_models import vlm_improved_name
from harness.demo.seed import BETTER_REPO, improve
from harness.errors import HarnessError
from harness.models.content_hash import file_sha256, salted_hash
from harness.settings.paths import bundled_dir
from harness.settings.root import Settings, load_settings

EARLIER = ("miner-good", "miner-worse", "miner-text", "miner-hostile", "miner-copy")


def _fake_improved_build(cache: Path) -> Path:
    """A finished build of the improved model, as `ensure_built` leaves it (folder + `.done` beside it)."""
    import torch
    from safetensors.torch import save_file

    folder = bundled_dir(cache) / vlm_improved_name()
    folder.mkdir(parents=True)
    save_file({"w": torch.arange(6.0).reshape(2, 3)}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlavaForConditionalGeneration"]}))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny stand-in\n")
    (bundled_dir(cache) / f"{vlm_improved_name()}.done").write_text("ok\n")
    return folder


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        [
            f"cache_dir={tmp_path / 'cache'}",
            f"chain.local_db={tmp_path / 'chain.sqlite'}",
            "chain.block_period_s=0",
            f"mirror.root={tmp_path / 'mirror'}",
            "demo.shared_cache_dir=",
        ]
    )


def _seeded_chain(settings: Settings) -> LocalChain:
    """The chain as `harness demo seed` leaves it, as far as `improve` reads it: each earlier miner committed."""
    chain = open_local_chain(settings.chain, Path(settings.cache_dir))
    for hotkey in EARLIER:
        chain.register(hotkey)
        chain.commit(hotkey, f"demo/{hotkey}:main:{'0' * 64}")
        chain.advance(3)
    return chain


def _latest(chain: LocalChain) -> dict:
    return {r.hotkey: r for r in chain.commitments()}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = _settings(tmp_path)
    _fake_improved_build(Path(settings.cache_dir))
    return settings


def test_improve_commits_the_improved_model_after_every_demo_miner_once(settings: Settings) -> None:
    chain = _seeded_chain(settings)
    chain.advance(10)  # a first round ran meanwhile: the commitment lands at the current block, not earlier
    now = chain.current_block()
    row = improve(settings, chain)
    records = _latest(chain)
    assert row.committed and row.role == "better" and row.hotkey == "miner-better"
    assert records["miner-better"].raw == row.raw and records["miner-better"].block == row.block >= now
    assert all(records[h].block < row.block for h in EARLIER)
    commitment = parse(row.raw)
    assert commitment.repo_id == BETTER_REPO and commitment.competition == settings.demo.competition
    published = settings.paths.mirror / BETTER_REPO / commitment.revision
    assert sorted(p.name for p in published.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    # the hash a fetch verifies: salted with this hotkey over exactly the files policy downloads
    assert row.content_hash == salted_hash({f: file_sha256(published / f) for f in row.files}, "miner-better")

    again = improve(settings, chain)
    assert not again.committed and again.raw == row.raw and again.block == row.block
    assert _latest(chain) == records
    assert len(list(chain.commitments())) == len(records)


def test_a_vlm_recommitted_later_moves_the_improved_commitment_after_it(settings: Settings) -> None:
    chain = _seeded_chain(settings)
    first = improve(settings, chain)
    chain.advance(5)
    chain.commit("miner-good", "demo/vlm-smollm2:main:" + "1" * 64)  # the VLM's miner committed again
    again = improve(settings, chain)
    records = _latest(chain)
    assert again.committed and again.raw == first.raw
    assert records["miner-better"].block > records["miner-good"].block


def test_improve_before_seed_refuses_and_builds_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # no improved build in the cache: reaching it would start minutes of training
    chain = open_local_chain(settings.chain, Path(settings.cache_dir))
    with pytest.raises(HarnessError, match="run `harness demo seed` first"):
        improve(settings, chain)
    assert "miner-better" not in _latest(chain)
    assert not bundled_dir(Path(settings.cache_dir)).exists()


def test_improve_refuses_a_better_hotkey_that_another_role_uses(settings: Settings) -> None:
    chain = _seeded_chain(settings)
    clash = settings.model_copy(update={"demo": settings.demo.model_copy(update={"better_hotkey": "miner-good"})})
    with pytest.raises(HarnessError, match="must all differ"):
        improve(clash, chain)
    assert not settings.paths.mirror.exists()  # refused before anything was published


def test_demo_improve_command_prints_the_commitment_then_unchanged(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _seeded_chain(settings)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("HARNESS_CHAIN__LOCAL_DB", str(settings.chain.local_db))
    monkeypatch.setenv("HARNESS_CHAIN__BLOCK_PERIOD_S", "0")
    monkeypatch.setenv("HARNESS_MIRROR__ROOT", str(settings.mirror.root))
    monkeypatch.setenv("HARNESS_DEMO__SHARED_CACHE_DIR", "")
    assert main(["demo", "improve", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["committed"] and row["hotkey"] == "miner-better"
    assert _latest(chain)["miner-better"].raw == row["raw"]
    assert main(["demo", "improve"]) == 0
    table = capsys.readouterr().out
    assert "unchanged" in table and "miner-better" in table and row["raw"] in table
