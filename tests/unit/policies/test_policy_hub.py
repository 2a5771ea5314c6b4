"""The Hub path against tests/support/hubserver.py: metadata only, pinned sha, retries, clear failures."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import pytest

import policies
from policies import CheckError, HubConfig, HubUnreachable
from policies.hub import HubClient
from tests.support.hubserver import HubServer
from tests.support.model_factory import write_sparse_model, write_tiny_model

FAST = {"retry_wait_s": 0.01, "timeout_s": 5}


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server


def test_smollm2_through_the_hub_passes_and_reads_headers_only(hub: HubServer, smollm2: Path) -> None:
    sha = hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", smollm2)
    report = policies.check_hub("HuggingFaceTB/SmolLM2-135M-Instruct", "main", hub=HubConfig(endpoint=hub.url))
    assert report.allowed, report.violations
    assert report.model == f"hf://HuggingFaceTB/SmolLM2-135M-Instruct@{sha}"
    assert report.facts["revision"] == sha and report.facts["parameters"] == 134_515_008
    local = policies.check_local(smollm2).facts
    assert {k: v for k, v in report.facts.items() if k != "revision"} == {
        k: v for k, v in local.items() if k != "revision"
    }
    weights = hub.downloads_of("model.safetensors")
    assert next(r.range for r in weights) == "bytes=0-7"
    assert sum(r.bytes_sent for r in weights) < 64 * 1024  # the header, not 270 MB
    assert all(sha in r.path for r in hub.requests if "/resolve/" in r.path)  # pinned to the resolved commit
    assert sum(r.bytes_sent for r in hub.downloads_of("tokenizer.json")) == 64


def test_sparse_giant_on_the_hub_rejected_on_size_without_download(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("org/big", write_sparse_model(tmp_path / "big", 11e9))
    report = policies.check_hub("org/big", None, hub=HubConfig(endpoint=hub.url))
    assert report.rules_violated == {"size"}
    assert sum(r.bytes_sent for r in hub.downloads_of("model.safetensors")) < 1024 * 1024


def test_endpoint_from_hf_endpoint(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add_repo("org/tiny", write_tiny_model(tmp_path / "m"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    assert policies.check_hub("org/tiny", "main").allowed


def test_token_from_hf_token_is_sent_but_never_a_setting(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    config = HubConfig(endpoint=hub.url)
    assert config.resolved_token() == "hf_secret"
    assert "hf_secret" not in config.model_dump_json() and "hf_secret" not in repr(config)
    assert HubClient(config).http.headers["authorization"] == "Bearer hf_secret"
    monkeypatch.delenv("HF_TOKEN")
    assert HubConfig().resolved_token() is None


def test_a_config_sent_to_another_process_carries_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings travel to Ray workers by pickle: the head's token must not go with them, and the worker reads its
    own $HF_TOKEN and $HF_ENDPOINT, as it did when they were read at call time."""
    monkeypatch.setenv("HF_TOKEN", "hf_head_secret")
    monkeypatch.setenv("HF_ENDPOINT", "http://head.invalid")
    wire = pickle.dumps(HubConfig(attempts=2))
    assert b"hf_head_secret" not in wire and b"head.invalid" not in wire
    monkeypatch.setenv("HF_TOKEN", "hf_worker")
    monkeypatch.setenv("HF_ENDPOINT", "http://worker.invalid")
    arrived = pickle.loads(wire)
    assert arrived.attempts == 2
    assert (arrived.resolved_token(), arrived.resolved_endpoint()) == ("hf_worker", "http://worker.invalid")


def test_transient_failures_are_retried(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("org/tiny", write_tiny_model(tmp_path / "m"))
    hub.fail_next(2)
    report = policies.check_hub("org/tiny", "main", hub=HubConfig(endpoint=hub.url, attempts=3, **FAST))
    assert report.allowed
    assert [r.status for r in hub.requests[:3]] == [503, 503, 200]


def test_server_down_gives_hub_unreachable_after_retries(hub: HubServer) -> None:
    url = hub.url
    hub.stop()
    with pytest.raises(HubUnreachable, match="after 3 tries"):
        policies.check_hub("org/tiny", "main", hub=HubConfig(endpoint=url, attempts=3, **FAST))


def test_always_failing_server_gives_up(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("org/tiny", write_tiny_model(tmp_path / "m"))
    hub.fail_next(100)
    with pytest.raises(HubUnreachable):
        policies.check_hub("org/tiny", "main", hub=HubConfig(endpoint=hub.url, attempts=2, **FAST))
    assert len(hub.requests) == 2


def test_missing_repo_and_revision_are_clear_errors(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("org/tiny", write_tiny_model(tmp_path / "m"))
    with pytest.raises(CheckError, match="repository not found"):
        policies.check_hub("org/nope", "main", hub=HubConfig(endpoint=hub.url))
    with pytest.raises(CheckError, match="revision not found"):
        policies.check_hub("org/tiny", "f" * 40, hub=HubConfig(endpoint=hub.url))


def test_escaping_and_hostile_paths_from_the_hub(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo(
        "org/evil",
        write_tiny_model(tmp_path / "m"),
        files={"../../etc/passwd": b"x", "sub/../../x": b"y", "weights.dat": b"\x80\x05rest"},
    )
    report = policies.check_hub("org/evil", "main", hub=HubConfig(endpoint=hub.url))
    assert report.rules_violated == {"symlink", "format"}  # weights.dat is of no allowed kind
    assert not any("passwd" in r.path for r in hub.requests if r.method == "GET" and "/resolve/" in r.path)


def test_server_ignoring_range_is_cut_at_the_requested_length(hub: HubServer, smollm2: Path) -> None:
    from policies.hub import HubClient

    sha = hub.add_repo("org/smol", smollm2)
    hub.honour_range = False
    weights = smollm2 / "model.safetensors"
    with weights.open("rb") as fh:
        expected = fh.read(8)[3:8]
    with HubClient(HubConfig(endpoint=hub.url)) as client:
        assert client.read_range("org/smol", sha, "model.safetensors", 3, 5) == expected
    deadline = time.monotonic() + 10
    while not hub.downloads_of("model.safetensors") and time.monotonic() < deadline:
        time.sleep(0.01)  # the server thread records the request once its write fails
    [request] = hub.downloads_of("model.safetensors")
    assert request.status == 200 and request.bytes_sent < weights.stat().st_size // 4  # connection dropped early


def test_hubserver_speaks_huggingface_hub(hub: HubServer, smollm2: Path, tmp_path: Path) -> None:
    """The stand-in is faithful enough for huggingface_hub itself (model_info, downloads, snapshots, errors)."""
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    sha = hub.add_repo("org/smol", smollm2)
    info = HfApi(endpoint=hub.url).model_info("org/smol", revision=sha, files_metadata=True)
    assert info.sha == sha
    assert {s.rfilename: s.size for s in info.siblings}["model.safetensors"] == (
        smollm2 / "model.safetensors"
    ).stat().st_size
    path = hf_hub_download("org/smol", "config.json", revision=sha, endpoint=hub.url, cache_dir=tmp_path)
    assert json.loads(Path(path).read_text())["vocab_size"] == 49152
    snapshot = Path(
        snapshot_download("org/smol", revision=sha, endpoint=hub.url, cache_dir=tmp_path, allow_patterns=["*.json"])
    )
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url).model_info("org/none")
    with pytest.raises(RevisionNotFoundError):
        HfApi(endpoint=hub.url).model_info("org/smol", revision="0" * 40)
