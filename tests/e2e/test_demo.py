"""`harness demo seed`: what the demo miners commit, verified the way the validator will (mirror + fetch)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import policies
from chain.commitment import parse
from chain.factory import open_local_chain
from harness.cli.app import main
from harness.demo.hub_mirror import MirrorServer
from harness.demo.seed import COPY_REPO, GOOD_REPO, HOSTILE_REPO, TEXT_REPO, WORSE_REPO, DemoCommitment, seed
from harness.models.content_hash import local_model_hash
from harness.models.fetch import FetchError, fetch_model
from harness.settings.root import Settings, load_settings
from policies import HubConfig

# seed() publishes the demo VLM, which a fresh machine trains first (about 22 minutes on 2 cores)
pytestmark = pytest.mark.slow

FAST = {"retry_wait_s": 0.01, "timeout_s": 10}


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, smollm2: Path, vlm_noised: Path
) -> tuple[Settings, list[DemoCommitment]]:
    base = tmp_path_factory.mktemp("demo")
    settings = load_settings(
        [f"chain.local_db={base / 'chain.sqlite'}", "chain.block_period_s=0", f"mirror.root={base / 'mirror'}"]
    )
    return settings, seed(settings)


def _records(settings: Settings) -> dict:
    return {r.hotkey: r for r in open_local_chain(settings.chain, settings.cache_dir).commitments()}


def test_seed_commits_one_miner_of_each_kind(seeded: tuple[Settings, list[DemoCommitment]]) -> None:
    settings, rows = seeded
    by_role = {r.role: r for r in rows}
    roles = ["good", "worse", "text", "copy", "hostile", "junk"]
    assert [r.role for r in rows] == roles and all(r.committed for r in rows)
    records = _records(settings)
    assert (
        set(records)
        == {r.hotkey for r in rows}
        == {
            "miner-good",
            "miner-worse",
            "miner-text",
            "miner-copy",
            "miner-hostile",
            "miner-junk",
        }
    )
    good, worse, copy = records["miner-good"], records["miner-worse"], records["miner-copy"]
    assert good.commitment.repo_id == GOOD_REPO and worse.commitment.repo_id == WORSE_REPO
    assert copy.commitment.repo_id == COPY_REPO and records["miner-hostile"].commitment.repo_id == HOSTILE_REPO
    assert copy.block > good.block  # the copy came later: de-duplication must give it nothing
    assert copy.commitment.revision == good.commitment.revision  # same files, so the same content revision
    assert copy.commitment.content_hash != good.commitment.content_hash  # ... but salted with its own hotkey
    assert worse.commitment.revision != good.commitment.revision
    text = records["miner-text"]
    assert text.commitment.repo_id == TEXT_REPO and text.commitment.revision not in {
        good.commitment.revision,
        worse.commitment.revision,
    }
    # every model miner competes in any-to-any: the captions need a model that sees
    assert {records[r.hotkey].commitment.competition for r in rows if r.role != "junk"} == {"any2any"}
    junk = records["miner-junk"]
    assert not junk.ok and "REVISION 'main'" in junk.error
    for role in ("good", "worse", "text", "copy", "hostile"):
        record = records[by_role[role].hotkey]
        assert record.raw == by_role[role].raw and record.commitment.content_hash == by_role[role].content_hash
        assert parse(record.raw).format() == record.raw  # committed in the canonical base64url form
    published = settings.paths.mirror / GOOD_REPO / good.commitment.revision
    assert local_model_hash(published, "miner-good", settings.policy) == good.commitment.content_hash


@pytest.mark.parametrize("role", ["good", "worse", "text", "copy"])
def test_fetch_through_the_mirror_verifies_the_committed_hash(
    seeded: tuple[Settings, list[DemoCommitment]], role: str, tmp_path: Path
) -> None:
    settings, rows = seeded
    row = next(r for r in rows if r.role == role)
    c = _records(settings)[row.hotkey].commitment
    with MirrorServer(settings.paths.mirror) as mirror:
        hub = HubConfig(endpoint=mirror.url, **FAST)
        report = policies.check_hub(c.repo_id, c.revision, settings.policy, hub)
        assert report.allowed, report.violations
        files = policies.download_files(policies.build_hub_manifest(c.repo_id, c.revision, settings.policy, hub))
        assert tuple(files) == row.files
        folder = fetch_model(
            c.repo_id,
            c.revision,
            files,
            row.hotkey,
            c.content_hash,
            models_dir=tmp_path / "models",
            budget_bytes=10**10,
            hub=hub,
        )
        assert (folder / "model.safetensors").is_file()
        if role == "copy":  # the good miner's hash does not verify the copy: the salt is the hotkey
            good = _records(settings)["miner-good"].commitment
            with pytest.raises(FetchError, match="content hash mismatch"):
                fetch_model(
                    c.repo_id,
                    c.revision,
                    files,
                    row.hotkey,
                    good.content_hash,
                    models_dir=tmp_path / "models",
                    budget_bytes=10**10,
                    hub=hub,
                )


def test_hostile_model_is_rejected_by_policy_through_the_mirror(
    seeded: tuple[Settings, list[DemoCommitment]],
) -> None:
    settings, _ = seeded
    c = _records(settings)["miner-hostile"].commitment
    with MirrorServer(settings.paths.mirror) as mirror:
        report = policies.check_hub(c.repo_id, c.revision, settings.policy, HubConfig(endpoint=mirror.url, **FAST))
    rules = {v.rule for v in report.violations}
    assert not report.allowed and {"pickle", "remote-code"} <= rules
    # nothing of the pickle or the code reached the hash a fetch would verify
    row = next(r for r in seeded[1] if r.role == "hostile")
    assert "pytorch_model.bin" not in row.files and "modeling_hostile.py" not in row.files


def test_seeding_again_commits_nothing_new(
    seeded: tuple[Settings, list[DemoCommitment]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, rows = seeded
    before = _records(settings)
    monkeypatch.setenv("HARNESS_CHAIN__LOCAL_DB", str(settings.chain.local_db))
    monkeypatch.setenv("HARNESS_CHAIN__BLOCK_PERIOD_S", "0")
    monkeypatch.setenv("HARNESS_MIRROR__ROOT", str(settings.mirror.root))
    assert main(["demo", "seed", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["committed"] for r in again] == [False] * 6
    assert [r["raw"] for r in again] == [r.raw for r in rows]
    assert _records(settings) == before
    with sqlite3.connect(settings.chain.local_db) as db:
        assert db.execute("SELECT COUNT(*) FROM commitments").fetchone()[0] == 6
    assert main(["demo", "seed"]) == 0
    table = capsys.readouterr().out
    assert "unchanged" in table and "committed " not in table and "miner-copy" in table


def test_a_changed_good_commitment_moves_the_copy_after_it(
    seeded: tuple[Settings, list[DemoCommitment]], tmp_path: Path
) -> None:
    """If the good miner's commitment is re-made (at a later block), re-seeding keeps the copy strictly later."""
    settings, _ = seeded
    db_copy = tmp_path / "chain.sqlite"
    with sqlite3.connect(settings.chain.local_db) as src, sqlite3.connect(db_copy) as dst:
        src.backup(dst)
    moved = settings.model_copy(update={"chain": settings.chain.model_copy(update={"local_db": db_copy})})
    chain = open_local_chain(moved.chain, moved.cache_dir)
    chain.advance(5)
    chain.commit("miner-good", "demo/junk:main:x")  # the good miner committed something else meanwhile
    again = {r.role: r for r in seed(moved, chain)}
    assert again["good"].committed and again["copy"].committed and not again["worse"].committed
    records = {r.hotkey: r for r in chain.commitments()}
    assert records["miner-copy"].block > records["miner-good"].block


def test_only_ready_commits_the_untrained_miners_first_then_the_full_seed_the_rest(
    tmp_path: Path, smollm2: Path, vlm_noised: Path
) -> None:
    """`make harness-up` on a machine without the trained VLM: the text-only and hostile miners (and the junk
    commitment) commit at once, nothing starts the VLM's training; the later full seed commits the VLM miners,
    the copy after the good one."""
    isolated = [
        f"cache_dir={tmp_path / 'cache'}",
        f"chain.local_db={tmp_path / 'chain.sqlite'}",
        "chain.block_period_s=0",
        f"mirror.root={tmp_path / 'mirror'}",
        "demo.shared_cache_dir=",  # no machine-wide cache: the VLM is "not trained" here
    ]
    settings = load_settings(isolated)
    first = seed(settings, only_ready=True)
    assert [r.role for r in first] == ["text", "hostile", "junk"]
    assert not any((tmp_path / "cache" / "bundled").glob("vlm-*"))  # the training was not started

    shared = load_settings([*isolated[:-1], f"demo.shared_cache_dir={smollm2.parent.parent}"])
    rows = {r.role: r for r in seed(shared)}
    assert set(rows) == {"good", "worse", "text", "copy", "hostile", "junk"}
    assert not rows["text"].committed and rows["good"].committed  # the early miners are left alone
    # registration order on the local chain (its blocks stand still here): text first, the copy after the good one
    assert rows["text"].uid < rows["good"].uid < rows["worse"].uid < rows["copy"].uid
