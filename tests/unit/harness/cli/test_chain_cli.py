from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.local import LocalChain
from harness.cli.app import main
from harness.settings.root import load_settings

REV = "e" * 40
HASH = "f" * 64


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "chain.sqlite"
    monkeypatch.setenv("HARNESS_CHAIN__LOCAL_DB", str(db))
    monkeypatch.setenv("HARNESS_CHAIN__BLOCK_PERIOD_S", "0")
    return db


def test_chain_settings_section_from_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CHAIN__BACKEND", "bittensor")
    monkeypatch.setenv("HARNESS_CHAIN__NETUID", "21")
    settings = load_settings(["chain.version_key=4"])
    assert (settings.chain.backend, settings.chain.netuid, settings.chain.version_key) == ("bittensor", 21, 4)
    with pytest.raises(ValueError, match="backend"):
        load_settings(["chain.backend=ethereum"])


def test_commit_then_show_json(local_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chain", "commit", "--hotkey", "m1", "--model", "acme/good", "--revision", REV, "--hash", HASH]) == 0
    assert "uid 0" in capsys.readouterr().out
    assert main(["chain", "commit", "--hotkey", "m2", "--raw", "junk"]) == 0
    assert main(["chain", "advance", "--blocks", "4"]) == 0
    LocalChain(local_env, block_period_s=0).set_weights([0, 1], [3.0, 1.0])
    capsys.readouterr()
    assert main(["chain", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["block"] == 4
    assert [n["hotkey"] for n in shown["neurons"]] == ["m1", "m2"]
    good, junk = shown["commitments"]
    assert good["ok"] and good["model"] == f"hf://acme/good@{REV}" and good["content_hash"] == HASH
    assert not junk["ok"] and "':'-separated parts" in junk["error"]
    assert shown["last_weights"] == {"block": 4, "uids": [0, 1], "weights": [0.75, 0.25]}


def test_commit_accepts_hex_or_base64url_hash_and_stores_base64url(local_env: Path) -> None:
    b64 = "_" * 42 + "8"  # the all-ones digest (the last character carries 4 bits)
    for hotkey, given in (("m1", HASH), ("m2", b64)):
        assert (
            main(["chain", "commit", "--hotkey", hotkey, "--model", "acme/good", "--revision", REV, "--hash", given])
            == 0
        )
    records = LocalChain(local_env, block_period_s=0).commitments()
    assert [r.raw for r in records] == [f"acme/good:{REV}:{b64}"] * 2
    assert [r.commitment.content_hash for r in records] == [HASH] * 2


def test_show_text_marks_invalid_commitments(local_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["chain", "commit", "--hotkey", "m1", "--raw", "acme/x:notasha:abc"])
    capsys.readouterr()
    assert main(["chain", "show"]) == 0
    out = capsys.readouterr().out
    assert "INVALID: REVISION 'notasha'" in out and "last weights: none" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "acme/x", "--revision", "abc", "--hash", HASH], "invalid commitment: REVISION 'abc'"),
        (["--model", "acme", "--revision", REV, "--hash", HASH], "invalid commitment: model 'acme' must be ORG/NAME"),
        (["--model", "acme/x"], "--model, --revision and --hash are required"),
        (["--raw", "x", "--model", "acme/x"], "--raw replaces"),
        (["--raw", "x" * 129], "at most 128"),
    ],
)
def test_malformed_input_exits_2_with_one_line(
    local_env: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["chain", "commit", "--hotkey", "m1", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    if "at most" not in message:
        assert LocalChain(local_env, block_period_s=0).commitments() == []


def test_commit_refuses_a_non_local_backend(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--set", "chain.backend=bittensor", "chain", "commit", "--hotkey", "h", "--raw", "x"]
    assert main(args) == 2
    assert "local chain only" in capsys.readouterr().err


def test_show_lists_weight_commits_until_their_reveal(
    local_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under commit-reveal the weights in force stay the previous ones until the reveal: `chain show` says a commit
    is pending and when it reveals, then shows the revealed weights and no pending commit."""
    monkeypatch.setenv("HARNESS_CHAIN__LOCAL_COMMIT_REVEAL_BLOCKS", "10")
    assert main(["chain", "commit", "--hotkey", "m1", "--model", "acme/good", "--revision", REV, "--hash", HASH]) == 0
    assert main(["chain", "advance", "--blocks", "2"]) == 0
    receipt = LocalChain(local_env, block_period_s=0, commit_reveal_blocks=10).set_weights([0], [1.0])
    capsys.readouterr()
    assert main(["chain", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["validator"]["pending_commits"] == [
        {"commit_block": receipt.block, "reveal_round": receipt.reveal_round}
    ]
    assert shown["last_weights"] is None, "a commit is not in force before its reveal"
    assert main(["chain", "show"]) == 0
    text = capsys.readouterr().out
    assert f"weight commit pending: block {receipt.block}, reveals at drand round {receipt.reveal_round}" in text

    assert main(["chain", "advance", "--blocks", "10"]) == 0
    capsys.readouterr()
    assert main(["chain", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["validator"]["pending_commits"] == []
    assert shown["last_weights"] == {"block": receipt.block + 10, "uids": [0], "weights": [1.0]}
    assert shown["validator"]["last_update"] == receipt.block + 10
