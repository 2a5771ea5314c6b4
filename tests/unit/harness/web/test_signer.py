"""Which key signs the published documents: the wallet's hotkey file on bittensor, a derivable development key on
the local chain, none (documents unsigned, verification says so) when the hotkey cannot be loaded."""

from __future__ import annotations

import json
from pathlib import Path

import bittensor_core
import pytest

from harness.settings.root import Settings
from harness.state.store import Store
from harness.web.signer import validator_signer
from harness.web.signing import SignatureError, verify_document
from harness.web.site import ResultsSite


def test_local_chain_signs_with_the_named_development_key(tmp_path: Path) -> None:
    signer = validator_signer(Settings(cache_dir=tmp_path, chain={"local_validator_hotkey": "v1"}))
    assert signer.kind == "local-dev"
    assert signer.address == bittensor_core.Keypair.create_from_uri("//v1").ss58_address


def test_bittensor_signs_with_the_wallet_hotkey_and_publishes_only_its_address(tmp_path: Path) -> None:
    phrase = bittensor_core.Keypair.generate_mnemonic()
    expected = bittensor_core.Keypair.create_from_mnemonic(phrase).ss58_address
    hotkeys = tmp_path / "wallets" / "owner" / "hotkeys"
    hotkeys.mkdir(parents=True)
    (hotkeys / "hk1").write_text(json.dumps({"secretPhrase": phrase, "ss58Address": expected}))
    chain = {
        "backend": "bittensor",
        "wallet_path": str(tmp_path / "wallets"),
        "wallet_name": "owner",
        "wallet_hotkey": "hk1",
    }
    settings = Settings(cache_dir=tmp_path / "cache", chain=chain)
    signer = validator_signer(settings)
    assert (signer.kind, signer.address) == ("wallet-hotkey", expected)
    site = ResultsSite(settings, Store(tmp_path / "state.sqlite"), signer)
    body = site.settings_json()
    assert verify_document(json.loads(body), expected_signer=expected) == expected
    text = body.decode()
    # Nothing of the secret: not the phrase, no three of its words in a row (one word alone can be ordinary
    # English: "this" is in the caption prompt), not the wallet's path.
    words = phrase.split()
    assert not any(" ".join(words[i : i + 3]) in text for i in range(len(words) - 2))
    assert "wallets" not in text


def test_a_missing_hotkey_leaves_documents_unsigned_and_verification_refuses_them(tmp_path: Path) -> None:
    chain = {"backend": "bittensor", "wallet_path": str(tmp_path / "none"), "wallet_name": "w", "wallet_hotkey": "h"}
    settings = Settings(cache_dir=tmp_path / "cache", chain=chain)
    signer = validator_signer(settings)
    assert signer.keypair is None and signer.kind == "none"
    document = json.loads(ResultsSite(settings, Store(tmp_path / "state.sqlite"), signer).settings_json())
    assert document["signature"] is None
    with pytest.raises(SignatureError, match="no signer"):
        verify_document(document)
