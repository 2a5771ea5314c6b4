"""`harness commitment`: the line a miner prints is the one the validator's own prepare stage (policy from Hub
metadata, pinned download, salted-hash check) accepts, for a Hub reference and for the local folder alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.commitment import Commitment, parse
from chain.factory import open_local_chain
from harness.cli.app import main
from harness.demo.hub_mirror import MirrorServer
from harness.demo.seed import GOOD_REPO, DemoCommitment, hostile_dir, seed
from harness.errors import StageFailure
from harness.models.prepare import prepare_commitment
from harness.settings.root import Settings, load_settings

# seed() publishes the demo VLM, which a fresh machine trains first (about 22 minutes on 2 cores)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, smollm2: Path, vlm_noised: Path
) -> tuple[Settings, list[DemoCommitment], Path]:
    base = tmp_path_factory.mktemp("commitment")
    overrides = [f"chain.local_db={base / 'chain.sqlite'}", "chain.block_period_s=0", f"mirror.root={base / 'mirror'}"]
    settings = load_settings(overrides)
    return settings, seed(settings), base


def _good(settings: Settings, rows: list[DemoCommitment]) -> tuple[Commitment, Path]:
    """The good demo miner's commitment and the mirror folder of the revision it names."""
    good = parse(next(r for r in rows if r.role == "good").raw)
    return good, settings.paths.mirror / GOOD_REPO / good.revision


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def test_printed_line_is_what_the_validator_verifies(
    seeded: tuple[Settings, list[DemoCommitment], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, rows, base = seeded
    good, published = _good(settings, rows)
    with MirrorServer(settings.paths.mirror) as mirror:
        common = [
            "--set", f"hub.endpoint={mirror.url}", "--set", f"chain.local_db={base / 'chain.sqlite'}",
            "--set", "chain.block_period_s=0", "--set", f"fetch.models_dir={tmp_path / 'models'}",
        ]  # fmt: skip
        code, out = _run(
            capsys, *common, "commitment", f"hf://{GOOD_REPO}@{good.revision}", "--hotkey", "new", "--json"
        )
        assert code == 0
        from_hub = json.loads(out)
        code, out = _run(
            capsys, *common, "commitment", str(published), "--hotkey", "new", "--repo", GOOD_REPO,
            "--revision", good.revision, "--json",
        )  # fmt: skip
        assert code == 0
        from_folder = json.loads(out)
        assert from_hub["commitment"] == from_folder["commitment"] and from_hub["files"] == from_folder["files"]

        hub_settings = load_settings(common[1::2])
        prepared = prepare_commitment(parse(from_hub["commitment"]), "new", hub_settings)
        assert prepared.identity == from_hub["content_identity"]
        with pytest.raises(StageFailure) as info:  # salted with "new": another hotkey cannot use the line
            prepare_commitment(parse(from_hub["commitment"]), "someone-else", hub_settings)
        assert info.value.failure_class == "hash-mismatch"

        # the demo miner's own commitment, recomputed, is byte for byte what it committed
        code, out = _run(
            capsys, *common, "commitment", str(published), "--hotkey", "miner-good", "--repo", GOOD_REPO,
            "--revision", good.revision, "--competition", good.competition,
        )  # fmt: skip
        assert code == 0 and out.strip() == good.format()

        code, out = _run(
            capsys, *common, "commitment", str(published), "--hotkey", "new", "--repo", GOOD_REPO,
            "--revision", good.revision, "--submit",
        )  # fmt: skip
        assert code == 0
    records = {r.hotkey: r for r in open_local_chain(settings.chain, settings.cache_dir).commitments()}
    assert records["new"].raw == from_hub["commitment"]


def test_policy_rejection_and_missing_revision(
    seeded: tuple[Settings, list[DemoCommitment], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, rows, _base = seeded
    code, out = _run(capsys, "commitment", str(hostile_dir(settings.cache_dir)), "--hotkey", "hk")
    assert code == 1 and "pickle" in out
    _good_commitment, published = _good(settings, rows)  # the revision folder, not `refs/` beside it
    code, out = _run(capsys, "commitment", str(published), "--hotkey", "hk")
    assert code == 0 and out.startswith("HASH ")
    assert main(["commitment", str(published), "--hotkey", "hk", "--submit"]) == 2
    assert "--repo and --revision" in capsys.readouterr().err
    bad = ["commitment", str(published), "--hotkey", "hk", "--repo", GOOD_REPO, "--revision", "main"]
    assert main(bad) == 2
    assert "40-hex" in capsys.readouterr().err
