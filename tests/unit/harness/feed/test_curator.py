"""The curator's side: pool validation with BFCL's checker, the split into epochs, the lock's round, keys,
the paraphrase filter (against a local OpenAI-compatible server), and the `harness feed` commands end to end."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bittensor_core
import pytest

from harness.cli.app import main
from harness.errors import HarnessError
from harness.feed import batch as batch_format
from harness.feed import curator
from harness.feed.beacon import (
    KNOWN_ROUND,
    LocalBeacon,
    drand_round_for_epoch,
    quicknet_round_at,
    quicknet_time_of,
)
from harness.feed.errors import FeedError
from harness.feed.paraphrase import keeps_values, paraphrase
from harness.feed.reader import open_batch


def test_a_line_whose_answer_key_fails_bfcls_checker_is_left_out_and_named(pool_rows: list[dict]) -> None:
    broken = copy.deepcopy(pool_rows[0])
    (call,) = broken["ground_truth"]
    name = next(iter(call))
    broken["ground_truth"] = [{name: {"no_such_parameter": [1]}}]
    checked = curator.check_rows([(1, pool_rows[1]), (2, broken)], "pool")
    assert [line.row["id"] for line in checked.accepted] == [pool_rows[1]["id"]]
    assert checked.rejected == ["pool:2: its answer key fails BFCL's checker against its own functions"]
    with pytest.raises(HarnessError, match="pool:3"):
        curator.check_rows([(3, {"id": "x_1", "ground_truth": "nope"})], "pool")


def test_the_split_uses_each_entry_once_whatever_the_pools_order(pool_lines: list[curator.PoolLine]) -> None:
    epochs = [30, 10, 20]
    parts = curator.split(pool_lines, epochs)
    again = curator.split(list(reversed(pool_lines)), epochs)
    assert {e: [x.digest for x in v] for e, v in parts.items()} == {e: [x.digest for x in v] for e, v in again.items()}
    digests = [x.digest for part in parts.values() for x in part]
    assert sorted(digests) == sorted(x.digest for x in pool_lines) and len(set(digests)) == len(digests)
    assert max(map(len, parts.values())) - min(map(len, parts.values())) <= 1
    assert all(len(v) == 5 for v in curator.split(pool_lines, epochs, per_epoch=5).values())


def test_epochs_are_seed_blocks() -> None:
    assert curator.parse_epochs("100+3", 50) == [100, 150, 200]
    assert curator.parse_epochs("360,720", 360) == [360, 720]
    with pytest.raises(HarnessError, match="not seed blocks"):
        curator.parse_epochs("100,125", 50)


def test_a_real_net_batch_opens_at_or_just_before_its_seed_blocks_expected_time() -> None:
    anchor_time = quicknet_time_of(30_000_000) + 1.5
    for epoch, lead in ((1_000, 0.0), (1_360, 60.0), (5_000, 60.0)):
        drand_round = drand_round_for_epoch(
            epoch, anchor_block=1_000, anchor_time=anchor_time, block_time_s=12.0, lead_s=lead
        )
        expected = anchor_time + (epoch - 1_000) * 12.0 - lead
        assert quicknet_time_of(drand_round) <= expected < quicknet_time_of(drand_round + 1)
    assert quicknet_round_at(quicknet_time_of(KNOWN_ROUND)) == KNOWN_ROUND


def test_a_ciphertext_locked_to_another_round_than_the_batch_declares_is_refused(
    pool_lines: list[curator.PoolLine], alice: Any, chain10: Any
) -> None:
    (batch,) = curator.build_batches(pool_lines, [0], alice, lambda _e: 657414)
    declared = batch_format.Batch(**{**batch.__dict__, "drand_round": KNOWN_ROUND, "signature": b""})
    signed = batch_format.Batch(**{**declared.__dict__, "signature": alice.sign(declared.signed_bytes())})
    with pytest.raises(FeedError) as refused:
        open_batch(signed.to_bytes(), 0, alice.ss58_address, LocalBeacon(chain10.current_block))
    assert refused.value.failure_class == "malformed"


def test_the_curators_key_loads_from_a_uri_or_a_hotkey_file(tmp_path: Path) -> None:
    mnemonic = bittensor_core.Keypair.generate_mnemonic()
    keyfile = tmp_path / "hotkey"
    keyfile.write_text(json.dumps({"secretPhrase": mnemonic}))
    from_file = curator.load_keypair(keyfile=keyfile)
    assert from_file.ss58_address == curator.load_keypair(uri=mnemonic).ss58_address
    with pytest.raises(HarnessError, match="exactly one"):
        curator.load_keypair()


class Paraphraser:
    """A local OpenAI-compatible endpoint: rewrites keep the numbers unless the question mentions `drop`."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = body["messages"][-1]["content"]
                words = text.split()
                rewritten = "Please: " + " ".join(w for w in words if not (("drop" in text) and w[:1].isdigit()))
                answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": rewritten}}]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def paraphraser() -> Iterator[Paraphraser]:
    server = Paraphraser()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_a_paraphrase_is_kept_only_when_every_stated_value_survives(
    pool_lines: list[curator.PoolLine], paraphraser: Paraphraser
) -> None:
    triangle = pool_lines[0] if "triangle" in json.dumps(pool_lines[0].row) else None
    assert triangle is not None  # simple_python_0: base 10, height 5
    text = triangle.row["question"][0][0]["content"]
    assert keeps_values(triangle.entry["answer"], text, text.replace("10", "ten")) is False
    dropping = copy.deepcopy(triangle.row)
    dropping["question"][0][0]["content"] = text + " (drop)"
    (dropped,) = curator.check_rows([(1, dropping)], "pool").accepted
    result = paraphrase([triangle, dropped], paraphraser.url)
    assert [line.row["question"][0][0]["content"] for line in result.kept] == ["Please: " + text]
    assert result.dropped == [triangle.row["id"]]


def test_feed_build_publish_and_show_from_the_command_line(
    tmp_path: Path, pool_rows: list[dict], alice: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(row) + "\n" for row in pool_rows[:20]))
    common = ["--set", f"cache_dir={tmp_path / 'cache'}", "--set", "chain.block_period_s=0"]
    common += ["--set", "chain.local_tempo=10", "--set", f"tasks.feed_url={tmp_path / 'feed'}"]
    common += ["--set", f"tasks.feed_curator={alice.ss58_address}"]
    build = ["feed", "build", str(pool), "--epochs", "10+2", "--out", str(tmp_path / "out"), "--key-uri", "//Alice"]
    assert main([*common, *build, "--lock", "local"]) == 0
    assert main([*common, "feed", "publish", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert main([*common, "feed", "show", "--epoch", "10", "--json"]) == 0
    locked = json.loads(capsys.readouterr().out)
    assert locked["status"] == "locked" and locked["failure"] == "locked"
    assert main([*common, "chain", "advance", "--blocks", "10"]) == 0
    capsys.readouterr()
    assert main([*common, "feed", "show", "--json"]) == 0
    opened = json.loads(capsys.readouterr().out)
    assert opened["status"] == "open" and opened["epoch"] == 10 and opened["entries"] == 10
