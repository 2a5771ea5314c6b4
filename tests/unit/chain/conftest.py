"""The chain tests' one wallet: real SDK keys, unencrypted, in a temporary folder per test module."""

from __future__ import annotations

import bittensor as bt
import pytest

from tests.support.bittensor_node import new_wallet


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> bt.Wallet:
    return new_wallet(str(tmp_path_factory.mktemp("wallets")))
