"""Signed documents and `harness verify-report`: real sr25519 keys (bittensor_core), real files and a real server."""

from __future__ import annotations

import json
from pathlib import Path

import bittensor_core
import pytest

from harness.cli.app import main
from harness.views.status_server import StatusServer
from harness.web.signing import SignatureError, parse_document, sign_document, verify_document

ALICE = bittensor_core.Keypair.create_from_uri("//Alice")
BOB = bittensor_core.Keypair.create_from_uri("//Bob")
DOCUMENT = {"format": "harness-round/1", "round": {"id": 7}, "models": [{"hotkey": "hk", "score": 0.25, "weight": 1.0}]}


def test_a_signed_document_verifies_whatever_its_key_order_or_spacing() -> None:
    signed = sign_document(DOCUMENT, ALICE)
    assert signed["signer"] == ALICE.ss58_address
    reordered = json.loads(json.dumps(dict(reversed(list(signed.items()))), indent=3))
    assert verify_document(reordered) == ALICE.ss58_address
    assert verify_document(signed, expected_signer=ALICE.ss58_address) == ALICE.ss58_address


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["models"][0].update(score=0.26),  # a changed number
        lambda d: d["models"].append({"hotkey": "x"}),  # an added row
        lambda d: d.update(signer=BOB.ss58_address),  # another signer claimed
        lambda d: d.update(signature=d["signature"][:-2] + ("00" if d["signature"][-2:] != "00" else "11")),
        lambda d: d.update(signature=bytes(BOB.sign(b"other")).hex()),
    ],
)
def test_any_change_after_signing_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    signed = json.loads(json.dumps(sign_document(DOCUMENT, ALICE)))
    tamper(signed)
    with pytest.raises(SignatureError):
        verify_document(signed)


def test_unsigned_and_wrong_signer_are_refused_with_a_reason() -> None:
    with pytest.raises(SignatureError, match="no signer"):
        verify_document(DOCUMENT)
    with pytest.raises(SignatureError, match="not by the expected"):
        verify_document(sign_document(DOCUMENT, ALICE), expected_signer=BOB.ss58_address)
    with pytest.raises(SignatureError, match="cannot check"):
        verify_document(sign_document(DOCUMENT, ALICE) | {"signature": "zz"})


def test_parse_refuses_what_is_not_a_json_object() -> None:
    for data in (b"[1]", b"{", b"\xff\xfe"):
        with pytest.raises(Exception, match="JSON"):
            parse_document(data)


def test_verify_report_exit_codes_for_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good, bad, junk = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "junk.json"
    signed = sign_document(DOCUMENT, ALICE)
    good.write_text(json.dumps(signed))
    bad.write_text(json.dumps(signed | {"round": {"id": 8}}))
    junk.write_text("not json")
    assert main(["verify-report", str(good)]) == 0
    assert ALICE.ss58_address in capsys.readouterr().out
    assert main(["verify-report", str(good), "--signer", BOB.ss58_address]) == 1
    assert main(["verify-report", str(bad)]) == 1
    assert "INVALID" in capsys.readouterr().err
    assert main(["verify-report", str(junk)]) == 2
    assert main(["verify-report", str(tmp_path / "missing.json")]) == 2
    capsys.readouterr()
    assert main(["verify-report", str(good), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and result["signer"] == ALICE.ss58_address and result["round"] == 7


def test_verify_report_reads_a_url_and_says_when_it_cannot(capsys: pytest.CaptureFixture) -> None:
    body = json.dumps(sign_document(DOCUMENT, ALICE)).encode()
    server = StatusServer(
        "127.0.0.1", 0, status=lambda: {}, alive=lambda: True, metrics=lambda: (body, "application/json")
    ).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert main(["verify-report", f"{url}/metrics"]) == 0
        assert main(["verify-report", f"{url}/nothing-here"]) == 2
        assert "HTTP 404" in capsys.readouterr().err
    finally:
        server.stop()
    assert main(["verify-report", url + "/metrics"]) == 2  # nobody listens any more
