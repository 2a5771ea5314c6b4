"""Content hash and pinned fetch against tests/support/hubserver.py: allowed files only, verified, LRU under budget."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import policies
from harness.models.content_hash import PREFIX, ContentHashError, local_model_hash, model_hash, salted_hash
from harness.models.fetch import (
    FetchError,
    FetchUnreachable,
    HashMismatch,
    cached_models,
    fetch,
    fetch_model,
    verify_local_model,
)
from harness.models.ref import parse_model_ref
from policies import HubConfig
from tests.support.hubserver import HubServer
from tests.support.model_factory import write_tiny_model

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def _files(root: Path) -> list[str]:
    return policies.download_files(policies.build_local_manifest(root))


def test_hash_layout_is_the_documented_one(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    expected = hashlib.sha256(PREFIX + HOTKEY.encode() + b"\n")
    for path in sorted(files, key=str.encode):
        expected.update(f"{path}\t{hashlib.sha256((root / path).read_bytes()).hexdigest()}\n".encode())
    assert model_hash(root, files, HOTKEY) == expected.hexdigest() == local_model_hash(root, HOTKEY)


def test_hash_is_salted_order_free_and_content_sensitive(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    base = model_hash(root, files, HOTKEY)
    assert model_hash(root, list(reversed(files)), HOTKEY) == base
    assert model_hash(root, files, "5Other") != base
    (root / "config.json").write_text((root / "config.json").read_text() + " ")
    assert model_hash(root, files, HOTKEY) != base


def test_hash_refuses_missing_files_and_bad_input(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    with pytest.raises(ContentHashError, match="cannot read"):
        model_hash(root, ["nope.json"], HOTKEY)
    with pytest.raises(ContentHashError):
        model_hash(root, ["../m/config.json"], HOTKEY)
    with pytest.raises(ContentHashError):
        salted_hash({}, HOTKEY)
    with pytest.raises(ContentHashError):
        salted_hash({"a": "0" * 64}, "")


def test_download_files_are_the_allowlisted_kinds_the_engine_needs(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    (root / "card.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    files = policies.download_files(policies.build_local_manifest(root))
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    assert "card.png" not in files  # allowed in the repo, never fetched
    assert files == sorted(files)


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server


def _fetch(
    hub: HubServer, repo: str, sha: str, files: list[str], digest: str, models: Path, budget: int = 10**9
) -> Path:
    return fetch_model(
        repo,
        sha,
        files,
        HOTKEY,
        digest,
        models_dir=models,
        budget_bytes=budget,
        hub=HubConfig(endpoint=hub.url, retry_wait_s=0.01),
    )


def test_fetch_downloads_only_allowed_files_and_verifies(hub: HubServer, tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    (root / "card.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 5000)
    files = policies.download_files(policies.build_local_manifest(root))
    sha = hub.add_repo("org/tiny", root)
    digest = model_hash(root, files, HOTKEY)
    out = _fetch(hub, "org/tiny", sha, files, digest, tmp_path / "models")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == files
    assert hub.downloads_of("card.png") == []
    assert model_hash(out, files, HOTKEY) == digest
    assert policies.check_local(out).allowed
    # a second fetch is a cache hit: no new downloads
    before = len(hub.requests)
    assert _fetch(hub, "org/tiny", sha, files, digest, tmp_path / "models") == out
    assert len(hub.requests) == before


def test_hash_mismatch_is_rejected_and_removed(hub: HubServer, tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    sha = hub.add_repo("org/tiny", root)
    wrong = model_hash(root, files, "5SomeoneElse")  # same content committed under another hotkey
    models = tmp_path / "models"
    with pytest.raises(HashMismatch, match="content hash mismatch"):
        _fetch(hub, "org/tiny", sha, files, wrong, models)
    assert list(models.iterdir()) == [models / ".lock"]


def test_a_hub_that_keeps_failing_is_unreachable_not_a_bad_model(hub: HubServer, tmp_path: Path) -> None:
    """5xx on every try: the fetch fails as `FetchUnreachable` (tried again next round), never as a mismatch."""
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    sha = hub.add_repo("org/tiny", root)
    hub.fail_next(1000)
    models = tmp_path / "models"
    with pytest.raises(FetchUnreachable, match="unreachable"):
        _fetch(hub, "org/tiny", sha, files, model_hash(root, files, HOTKEY), models)
    assert list(models.iterdir()) == [models / ".lock"]


def test_fetch_requires_a_pinned_sha_and_existing_files(hub: HubServer, tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    sha = hub.add_repo("org/tiny", root)
    with pytest.raises(FetchError, match="full commit sha"):
        _fetch(hub, "org/tiny", "main", ["config.json"], "0" * 64, tmp_path / "models")
    with pytest.raises(FetchError, match="lacks file"):
        _fetch(hub, "org/tiny", sha, ["config.json", "missing.json"], "0" * 64, tmp_path / "models")
    with pytest.raises(FetchError, match="revision not found"):
        _fetch(hub, "org/tiny", "a" * 40, ["config.json"], "0" * 64, tmp_path / "models")


def test_cached_content_checked_for_another_hotkey_without_download(hub: HubServer, tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    sha = hub.add_repo("org/tiny", root)
    models = tmp_path / "models"
    out = _fetch(hub, "org/tiny", sha, files, model_hash(root, files, HOTKEY), models)
    before = len(hub.requests)
    copier = model_hash(root, files, HOTKEY)  # a copier re-using the original commitment under its own hotkey
    with pytest.raises(FetchError, match="content hash mismatch"):
        fetch_model("org/tiny", sha, files, "5Copier", copier, models_dir=models, budget_bytes=10**9)
    assert len(hub.requests) == before and (out / "model.safetensors").is_file()  # verified copy kept
    other = fetch_model(
        "org/tiny", sha, files, "5Copier", model_hash(root, files, "5Copier"), models_dir=models, budget_bytes=10**9
    )
    assert other == out and len(hub.requests) == before


def test_lru_eviction_under_budget(hub: HubServer, tmp_path: Path) -> None:
    models = tmp_path / "models"
    refs = []
    for name in ("a", "b", "c"):
        root = write_tiny_model(tmp_path / name)
        (root / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# {name}\n")
        files = _files(root)
        refs.append((f"org/{name}", hub.add_repo(f"org/{name}", root), files, model_hash(root, files, HOTKEY)))
    size = sum((tmp_path / "a" / f).stat().st_size for f in refs[0][2])
    budget = int(size * 2.5)  # room for two models
    _fetch(hub, *refs[0][:2], refs[0][2], refs[0][3], models, budget)
    _fetch(hub, *refs[1][:2], refs[1][2], refs[1][3], models, budget)
    _fetch(hub, *refs[0][:2], refs[0][2], refs[0][3], models, budget)  # touch a: b is now least recently used
    _fetch(hub, *refs[2][:2], refs[2][2], refs[2][3], models, budget)
    kept = {m.key.split("@")[0] for m in cached_models(models)}
    assert kept == {"org--a", "org--c"}
    with pytest.raises(FetchError, match="more than the cache budget"):
        _fetch(hub, *refs[1][:2], refs[1][2], refs[1][3], models, size // 2)


def test_partial_downloads_are_cleaned(hub: HubServer, tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    sha = hub.add_repo("org/tiny", root)
    models = tmp_path / "models"
    (models / "org--old@").mkdir(parents=True)
    (models / "org--old@" / "junk").write_text("x")
    _fetch(hub, "org/tiny", sha, files, model_hash(root, files, HOTKEY), models)
    assert not (models / "org--old@").exists()
    meta = json.loads((models / f"org--tiny@{sha}" / "meta.json").read_text())
    assert sorted(meta["digests"]) == files


def test_fetch_retries_transient_failures(hub: HubServer, tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    sha = hub.add_repo("org/tiny", root)
    hub.fail_next(2)
    out = _fetch(hub, "org/tiny", sha, files, model_hash(root, files, HOTKEY), tmp_path / "models")
    assert (out / "model.safetensors").is_file()


def test_local_folder_reference(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    files = _files(root)
    digest = model_hash(root, files, HOTKEY)
    assert verify_local_model(root, files, HOTKEY, digest) == root
    from harness.settings.root import load_settings

    assert fetch(parse_model_ref(str(root)), files, HOTKEY, digest, load_settings()) == root
    with pytest.raises(FetchError, match="mismatch"):
        verify_local_model(root, files, HOTKEY, "0" * 64)
