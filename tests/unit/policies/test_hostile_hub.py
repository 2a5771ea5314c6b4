"""A hostile Hub (or whoever answers in its place) against the check and the fetch.

Each attack must end as a failure class within the bounds the code enforces: the check runs in the policy
worker under a 512 MiB address-space cap and a 10 s deadline (so "within 10 s, under 512 MB" is enforced, not
timed: an unbounded read would end as `CheckResourceError` or `CheckTimeout` instead of the expected error),
and the fetch runs under RLIMIT_FSIZE at the listed size plus one chunk (a write past it would be EFBIG, not
the expected `FetchError`). On main: a 1.2 GB info body became 1.3 GB RSS, a gzip answer expanded to 3.1 GB,
a one-byte drip never ended, a 216-byte file streamed to 1.22 GB on disk.
"""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import pytest

import policies
from harness.models.fetch import FetchError, fetch_model
from policies.config import HubConfig, PolicyConfig
from policies.hub import HubAnswerError, HubClient
from tests.support.hostile_hub import SHA, SMALL_FILE, HostileHub

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
LIMITS = policies.WorkerLimits(deadline_s=10.0, memory_bytes=512 * 1024**2)
MiB = 1024**2


def hub_config(url: str) -> HubConfig:
    return HubConfig(endpoint=url, attempts=1, timeout_s=2.0, request_deadline_s=3.0)


def check(url: str) -> policies.CheckError:
    with pytest.raises(policies.CheckError) as caught:
        policies.check_in_worker({"repo_id": "org/evil", "revision": SHA}, PolicyConfig(), hub_config(url), LIMITS)
    exc = caught.value
    assert not isinstance(exc, policies.CheckTimeout | policies.CheckResourceError), exc  # a bound of ours held
    assert 0 < exc.peak_rss_bytes < 512 * MiB  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("behaviour", "needle"),
    [
        ("huge-info", "runs past the cap"),
        ("gzip-info", "content-encoding 'gzip'"),
        ("drip-info", "deadline"),
        ("many-files", "over the cap of 10,000"),
        ("huge-size", "implausible size"),
    ],
)
def test_hostile_model_info_ends_as_a_one_line_failure(behaviour: str, needle: str) -> None:
    with HostileHub(behaviour) as hub:
        exc = check(hub.url)
        assert needle in str(exc) and "\n" not in str(exc)
        if behaviour == "huge-info":
            assert hub.sent_to("/api/models/") < 64 * MiB  # the client hung up near its 16 MiB cap


def test_range_ignored_with_an_endless_body_is_cut() -> None:
    with HostileHub("range-ignored") as hub, HubClient(hub_config(hub.url)) as client:
        assert client.read_range("org/evil", SHA, "config.json", 0, 8) == b"\0" * 8
        with pytest.raises(HubAnswerError, match="too far in"):
            client.read_range("org/evil", SHA, "config.json", 10**9, 8)  # would need a GB of skipping
    assert hub.sent_to("config.json") < 64 * MiB


@pytest.mark.parametrize(
    ("behaviour", "needle"), [("redirect-http", "non-https"), ("redirect-loop", "more than 5 redirects")]
)
def test_file_redirects_only_to_https_and_only_a_few_hops(behaviour: str, needle: str) -> None:
    with (
        HostileHub(behaviour) as hub,
        HubClient(hub_config(hub.url)) as client,
        pytest.raises(HubAnswerError, match=needle),
    ):
        client.read_range("org/evil", SHA, "config.json", 0, 8)


def test_a_same_origin_redirect_of_a_local_mirror_is_followed() -> None:
    with HostileHub("redirect-local") as hub, HubClient(hub_config(hub.url)) as client:
        assert client.read_range("org/evil", SHA, "config.json", 0, 5) == SMALL_FILE[:5]


@pytest.fixture
def file_size_limit():
    """While the test runs, no file of this process may grow past 1 MiB: a fetch that wrote beyond the listed
    216 bytes plus one read chunk would hit the kernel's limit (EFBIG) instead of the fetch's own bound."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, old_limit[1]))
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
    signal.signal(signal.SIGXFSZ, old_handler)


def test_lying_size_is_cut_at_the_listing_and_nothing_stays_on_disk(tmp_path: Path, file_size_limit) -> None:
    models = tmp_path / "models"
    with HostileHub("lying-size") as hub:
        with pytest.raises(FetchError, match="past the cap of 216 bytes"):
            fetch_model(
                "org/evil", SHA, ["config.json"], HOTKEY, "x" * 43,
                models_dir=models, budget_bytes=300 * MiB, hub=hub_config(hub.url),
            )  # fmt: skip
        assert hub.sent_to("config.json") < 64 * MiB
    assert [p for p in models.rglob("*") if p.is_file() and p.name != ".lock"] == []


def test_listed_sizes_over_the_budget_fail_before_any_download(tmp_path: Path) -> None:
    with HostileHub("huge-size") as hub, pytest.raises(FetchError):
        fetch_model(
            "org/evil", SHA, ["model.safetensors"], HOTKEY, "x" * 43,
            models_dir=tmp_path / "models", budget_bytes=300 * MiB, hub=hub_config(hub.url),
        )  # fmt: skip
    assert hub.sent_to("/resolve/") == 0
