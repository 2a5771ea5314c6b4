"""`harness demo seed` refuses demo settings where two roles share a hotkey, before it builds or commits anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.demo.seed import seed
from harness.errors import HarnessError
from harness.settings.root import load_settings


@pytest.mark.parametrize("role", ["worse", "text", "copy", "hostile", "junk", "better"])
def test_a_role_sharing_the_good_miners_hotkey_is_refused(role: str, tmp_path: Path) -> None:
    settings = load_settings(
        [
            f"cache_dir={tmp_path}",
            f"chain.local_db={tmp_path / 'chain.sqlite'}",
            f"demo.{role}_hotkey=miner-good",
            "demo.shared_cache_dir=",
        ]
    )
    with pytest.raises(HarnessError, match="must all differ"):
        seed(settings)
    assert not (tmp_path / "bundled").exists()  # refused before any model was built or linked
