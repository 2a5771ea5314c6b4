"""An epoch's batch as validators read it: the same bytes and task set for everyone in the epoch, nothing
readable one block before the seed block, and every bad batch a named failure with a full local fallback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.evaluation.stage import SandboxEvaluateStage
from harness.feed import batch as batch_format
from harness.feed.beacon import LocalBeacon
from harness.feed.errors import FeedError
from harness.feed.reader import open_batch
from harness.feed.round_feed import round_feed
from harness.feed.source import batch_name
from harness.feed.wiring import read_epoch_feed
from harness.state.store import Store
from harness.tasks.taskset import sha256_of
from harness.views.status import status_payload

SEED = "0xfeed"


def task_set(settings: Any, feed: Any) -> dict:
    return SandboxEvaluateStage(settings).task_set("toolcall", SEED, feed).task_set


def test_two_validators_in_one_epoch_read_the_same_batch_and_build_the_same_task_set(
    tmp_path: Path, chain10: Any, make_settings: Any, publish_batches: Any
) -> None:
    publish_batches([10, 20])
    chain10.advance(10)
    sets, digests = [], []
    for name in ("a", "b"):
        settings = make_settings(name)
        with Store(tmp_path / f"{name}.sqlite") as store:
            rnd = store.begin_round(10, SEED)
            feed = round_feed(store, rnd.id, lambda s=settings: read_epoch_feed(s, chain10, 10))
        assert feed is not None and feed.ok
        digests.append(feed.batch_sha256)
        sets.append(task_set(settings, feed))
    assert digests[0] == digests[1]
    assert sha256_of(sets[0]) == sha256_of(sets[1])
    tasks = sets[0]["tasks"]
    from_feed = [t for t in tasks if t["source"].startswith("feed:")]
    assert len(from_feed) == round(20 * 0.8) and len(tasks) == 20
    assert sets[0]["settings"]["toolcall"]["feed"]["batch_sha256"] == digests[0]
    # another epoch's batch gives other tasks, and the batch digest is in the hashed set
    chain10.advance(10)
    other = task_set(make_settings("a"), read_epoch_feed(make_settings("a"), chain10, 20))
    assert {t["source"] for t in other["tasks"] if t["source"].startswith("feed:")}.isdisjoint(
        t["source"] for t in from_feed
    )


def test_nobody_reads_a_batch_one_block_before_its_seed_block(
    feed_dir: Path, chain10: Any, make_settings: Any, publish_batches: Any, alice: Any, pool_rows: list
) -> None:
    (batch,) = publish_batches([10])
    data = (feed_dir / batch_name(10)).read_bytes()
    question = pool_rows[0]["question"][0][0]["content"]
    assert question.encode() not in data and json.dumps(question).encode() not in data  # the text is locked
    chain10.advance(9)
    feed = read_epoch_feed(make_settings(), chain10, 10)
    assert feed is not None and feed.failure is not None and feed.failure.failure_class == "locked"
    with pytest.raises(FeedError) as early:
        open_batch(data, 10, alice.ss58_address, LocalBeacon(chain10.current_block))
    assert early.value.failure_class == "locked"
    chain10.advance(1)
    opened = open_batch(data, 10, alice.ss58_address, LocalBeacon(chain10.current_block))
    assert len(opened) == batch.entries


def _resign(data: bytes, keypair: Any, **fields: Any) -> bytes:
    """The batch with `fields` changed and signed again by `keypair` (a curator's own mistake)."""
    parsed = batch_format.parse(data)
    changed = batch_format.Batch(**{**parsed.__dict__, **fields, "signature": b""})
    return batch_format.Batch(**{**changed.__dict__, "signature": keypair.sign(changed.signed_bytes())}).to_bytes()


def _tamper(feed_dir: Path, case: str, alice: Any) -> dict[str, Any]:
    """Break epoch 10's batch as `case` says; the settings the validator reads it with."""
    path = feed_dir / batch_name(10)
    data = path.read_bytes()
    obj = json.loads(data)
    if case == "bad-signature":  # a byte of the ciphertext changed in transit or by a mirror
        obj["ciphertext"] = (
            obj["ciphertext"][:-20] + ("0" if obj["ciphertext"][-20] != "0" else "1") + obj["ciphertext"][-19:]
        )
        path.write_text(json.dumps(obj))
    elif case == "hash-mismatch":
        path.write_bytes(_resign(data, alice, plaintext_sha256="0" * 64))
    elif case == "missing":
        path.unlink()
    elif case == "oversized":
        return {"feed_max_bytes": 1024}
    elif case == "malformed":
        path.write_bytes(b"<html>not a batch</html>")
    elif case == "malformed-entries":
        path.write_bytes(_resign(data, alice, entries=obj["entries"] + 1))
    elif case == "wrong-epoch":
        shutil.copyfile(feed_dir / batch_name(20), path)
    return {}


FAILURES = ["bad-signature", "hash-mismatch", "missing", "oversized", "malformed", "malformed-entries", "wrong-epoch"]


@pytest.mark.parametrize("case", FAILURES)
def test_a_bad_batch_is_a_named_failure_and_the_round_falls_back_to_a_full_local_task_set(
    tmp_path: Path, feed_dir: Path, chain10: Any, make_settings: Any, publish_batches: Any, alice: Any, case: str
) -> None:
    publish_batches([10, 20])
    chain10.advance(10)
    settings = make_settings(**_tamper(feed_dir, case, alice))
    with Store(tmp_path / "state.sqlite") as store:
        rnd = store.begin_round(10, SEED)
        feed = round_feed(store, rnd.id, lambda: read_epoch_feed(settings, chain10, 10))
        failures = store.read.failures(rnd.id)
        status = status_payload(store)
    expected = "malformed" if case == "malformed-entries" else case
    assert feed is not None and feed.failure is not None and feed.failure.failure_class == expected
    assert [(f["stage"], f["class"]) for f in failures] == [("feed", expected)]
    assert status["feed"]["status"] == "fallback" and status["feed"]["failure"] == f"feed/{expected}"
    fallback = task_set(settings, feed)
    local = task_set(make_settings(feed_url=None, feed_curator=None), None)
    assert len(fallback["tasks"]) == 20 and not any(t["source"].startswith("feed:") for t in fallback["tasks"])
    assert fallback["tasks"] == local["tasks"]  # never a partial mix: exactly the local set
    assert fallback["settings"]["toolcall"]["feed"] == {
        "epoch": 10,
        "failure": expected,
        "fraction": 0.8,
        "perturbed": True,
    }


def test_a_batch_signed_by_another_hotkey_is_refused(
    chain10: Any, make_settings: Any, publish_batches: Any, bob: Any
) -> None:
    publish_batches([10], keypair=bob)
    chain10.advance(10)
    feed = read_epoch_feed(make_settings(), chain10, 10)
    assert feed is not None and feed.failure is not None and feed.failure.failure_class == "wrong-curator"


def test_a_batch_locked_to_a_round_the_beacon_does_not_release_is_not_opened(
    chain10: Any, make_settings: Any, publish_batches: Any
) -> None:
    publish_batches([10], drand_round=657414)
    chain10.advance(10)
    feed = read_epoch_feed(make_settings(), chain10, 10)
    assert feed is not None and feed.failure is not None and feed.failure.failure_class == "unreachable"


def test_no_feed_configured_leaves_the_task_set_as_before(make_settings: Any, chain10: Any) -> None:
    settings = make_settings(feed_url=None, feed_curator=None)
    assert read_epoch_feed(settings, chain10, 0) is None
    assert "feed" not in task_set(settings, None)["settings"]["toolcall"]
