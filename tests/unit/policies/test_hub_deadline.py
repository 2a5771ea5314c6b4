"""A Hub that drips its status line and headers one byte at a time, each byte well inside the socket timeout.

Socket timeouts reset on every read, so only a wall-clock deadline per request ends such an answer; and a drip
is no transient failure to retry (each retry would be given the same time again). The check as a whole has its
own deadline (`hub.check_deadline_s`, 30 s by default): its worker is killed only as a backstop, so a
`CheckTimeout` here would mean the deadline inside the requests did not hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import policies
from harness.models.fetch import FetchUnreachable, fetch_model
from policies.config import HubConfig, PolicyConfig
from policies.deadline import HubDeadline
from policies.hub import HubClient
from tests.support.hostile_hub import SHA, HostileHub

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def dripping(url: str, **overrides: float) -> HubConfig:
    """Three tries and a 2 s socket timeout: neither may let the drip last longer."""
    settings: dict = {"endpoint": url, "attempts": 3, "timeout_s": 2.0, "retry_wait_s": 0.0}
    return HubConfig(**{**settings, **overrides})


def test_a_dripping_status_line_ends_at_the_request_deadline_and_is_not_retried() -> None:
    with HostileHub("drip-head") as hub, HubClient(dripping(hub.url, request_deadline_s=1.0)) as client:
        with pytest.raises(HubDeadline, match="within the deadline"):
            client.read_range("org/evil", SHA, "config.json", 0, 8)
        assert sum(hub.requests.values()) == 1  # one try: a drip is not transient
        assert hub.sent_to("/resolve/") < 20  # about five bytes a second for one second


def test_a_check_against_a_dripping_hub_ends_at_its_check_deadline_as_unreachable() -> None:
    config = dripping("", check_deadline_s=3.0)  # every request's own deadline (60 s) is longer than the check's
    with HostileHub("drip-head") as hub:
        config = config.model_copy(update={"endpoint": hub.url})
        with pytest.raises(policies.HubUnreachable) as caught:
            policies.check_in_worker(
                {"repo_id": "org/evil", "revision": SHA}, PolicyConfig(), config, policies.WorkerLimits(120.0)
            )
        assert not isinstance(caught.value, policies.CheckTimeout)
        assert "within the deadline" in str(caught.value) and "\n" not in str(caught.value)
        assert sum(hub.requests.values()) == 1


def test_a_fetch_from_a_dripping_hub_is_unreachable_after_one_request(tmp_path: Path) -> None:
    with HostileHub("drip-head") as hub, pytest.raises(FetchUnreachable, match="within the deadline"):
        fetch_model(
            "org/evil", SHA, ["config.json"], HOTKEY, "x" * 43,
            models_dir=tmp_path / "models", budget_bytes=2**20, hub=dripping(hub.url, request_deadline_s=1.0),
        )  # fmt: skip
    assert sum(hub.requests.values()) == 1


def test_the_check_deadline_is_a_setting_of_thirty_seconds_and_finite() -> None:
    assert HubConfig().check_deadline_s == 30.0
    with pytest.raises(ValueError):
        HubConfig(check_deadline_s=float("inf"))
