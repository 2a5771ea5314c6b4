"""The prepare stage against hostile inputs: the policy judges the bytes that were fetched, a check that runs
past its deadline is `prepare-timeout`, and the round goes on past a prepare that never returns."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from chain.commitment import Commitment
from chain.local import LocalChain
from harness.errors import StageFailure
from harness.models.content_hash import model_hash
from harness.models.prepare import prepare_commitment
from harness.round.executors.local import single_slot
from harness.round.supervisor import Supervisor
from harness.settings.root import Settings
from harness.state.store import Store
from policies.config import HubConfig, PolicyConfig
from tests.support.hostile_hub import SHA, HostileHub
from tests.support.model_factory import write_tiny_model
from tests.support.rounds import Stages, commit, dead_hub_url

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
EVIL_TEMPLATE = "{{ messages.__class__ }}"


def _settings(tmp_path: Path, url: str, **policy: object) -> Settings:
    return Settings(
        cache_dir=tmp_path / "cache",
        hub=HubConfig(endpoint=url, attempts=1, timeout_s=5.0, retry_wait_s=0.01),
        policy=PolicyConfig(check_deadline_s=20.0, **policy),
    )


def test_bytes_swapped_between_check_and_download_are_judged_and_refused(tmp_path: Path) -> None:
    """Range reads (the metadata check) see a clean template; the download gets a hostile one of the same length,
    and the commitment hashes the hostile bytes, so the hash check passes. On main the sandbox got them."""
    honest = write_tiny_model(tmp_path / "honest")
    clean = (honest / "chat_template.jinja").read_bytes()
    evil = EVIL_TEMPLATE.encode().ljust(len(clean), b" ")
    shipped = tmp_path / "shipped"
    shutil.copytree(honest, shipped)
    (shipped / "chat_template.jinja").write_bytes(evil)
    files = sorted(p.name for p in honest.iterdir())
    commitment = Commitment("org", "evil", SHA, model_hash(shipped, files, HOTKEY))
    with (
        HostileHub("two-faced", folder=honest, swap={"chat_template.jinja": evil}) as hub,
        pytest.raises(StageFailure) as caught,
    ):
        prepare_commitment(commitment, HOTKEY, _settings(tmp_path, hub.url))
    assert (caught.value.stage, caught.value.failure_class) == ("policy", "rejected")
    assert "fetched files" in str(caught.value) and "__class__" in str(caught.value)


def test_the_honest_repo_through_the_same_path_is_prepared(tmp_path: Path) -> None:
    honest = write_tiny_model(tmp_path / "honest")
    files = sorted(p.name for p in honest.iterdir())
    commitment = Commitment("org", "fine", SHA, model_hash(honest, files, HOTKEY))
    with HostileHub("two-faced", folder=honest) as hub:
        prepared = prepare_commitment(commitment, HOTKEY, _settings(tmp_path, hub.url))
    assert sorted(p.name for p in prepared.model_dir.iterdir()) == files


def test_a_check_past_its_deadline_is_prepare_timeout(tmp_path: Path) -> None:
    """The Hub drips; the Hub client's own deadline is set long, so it is the worker's deadline that ends it."""
    commitment = Commitment("org", "slow", SHA, "b" * 64)
    with HostileHub("drip-info") as hub:
        settings = _settings(tmp_path, hub.url)
        settings.hub.request_deadline_s = 600
        settings.policy.check_deadline_s = 2.0
        with pytest.raises(StageFailure) as caught:
            prepare_commitment(commitment, HOTKEY, settings)
    assert (caught.value.stage, caught.value.failure_class) == ("prepare", "prepare-timeout")


def test_a_hub_that_does_not_answer_is_a_retryable_prepare_failure_not_a_verdict(tmp_path: Path) -> None:
    commitment = Commitment("org", "away", SHA, "b" * 64)
    with pytest.raises(StageFailure) as caught:
        prepare_commitment(commitment, HOTKEY, _settings(tmp_path, dead_hub_url()))
    failure = caught.value.failure
    assert (failure.stage, failure.failure_class, failure.retryable) == ("prepare", "unreachable", True)


def test_round_goes_on_past_a_prepare_that_never_returns(tmp_path: Path, chain: LocalChain) -> None:
    commit(chain, "stuck", "org/stuck", "4")
    commit(chain, "good", "org/good", "1")
    stages = Stages({"stuck": "s", "good": "g"}, {"stuck": 0.9, "good": 0.5})
    release = threading.Event()
    scripted = stages.prepare

    def prepare(record, settings):  # type: ignore[no-untyped-def]
        if record.hotkey == "stuck":
            release.wait(3)  # a prepare that outlives the round's wait (each real stage has its own deadline)
        return scripted(record, settings)

    settings = Settings(cache_dir=tmp_path / "cache")
    settings.policy.check_deadline_s = 0.2
    settings.fetch.model_deadline_s = 0.2  # the round waits 1.1 * (2 * 0.2 + 0.2) s for a prepare
    sup = Supervisor(
        settings, chain, Store(tmp_path / "state.sqlite"),
        executor=single_slot(), evaluate=stages.evaluate, prepare=prepare,
    )  # fmt: skip
    try:
        round_id = sup.run_round()
    finally:
        release.set()
    failures = [(f["stage"], f["class"]) for f in sup.store.read.failures(round_id)]
    assert ("prepare", "prepare-timeout") in failures
    assert [row["hotkey"] for row in sup.store.read.leaderboard(round_id)] == ["good"]
