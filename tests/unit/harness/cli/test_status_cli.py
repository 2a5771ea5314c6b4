"""`harness status` and `harness report` on a real state database filled through the Store API."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.feed.round_feed import feed_status
from harness.fingerprint import scoring_fingerprint
from harness.state.store import Store
from harness.views.status import EMPTY_STATUS, fingerprint_status

HOSTILE = "pytorch_model.bin is a pickle \x1b[31m[bold]red[/bold] | @everyone"


def _populate(path: Path) -> None:
    """Round 1 finished (3 models: good, rejected, timed out; weights set); round 2 in progress."""
    with Store(path) as s:
        r1 = s.begin_round(100, "0xabc")
        good = s.record_model(
            hotkey="5GoodHotkeyAAAA", uid=0, repo="acme/good", revision="a" * 40, content_hash="1" * 64, commit_block=10
        )
        bad = s.record_model(
            hotkey="5BadHotkeyBBBB", uid=1, repo="acme/bad", revision="b" * 40, content_hash="2" * 64, commit_block=11
        )
        slow = s.record_model(
            hotkey="5Slow", uid=2, repo="acme/slow", revision="c" * 40, content_hash="3" * 64, commit_block=12
        )
        s.record_verdict(r1.id, good.id, True)
        s.record_verdict(r1.id, bad.id, False, [{"rule": "pickle", "message": HOSTILE}])
        s.record_verdict(r1.id, slow.id, True)
        ev = s.start_evaluation(r1.id, good.id, good.content_hash)
        for task in ("t0", "t1", "t2"):
            s.record_task_result(ev.id, task, 0.9)
        families = {"toolcall": {"mean": 0.95, "low": 0.9, "high": 1.0, "n": 2}, "caption": {"mean": 0.8, "n": 1}}
        s.finish_evaluation(ev.id, 0.9, {"families": families})
        ev_slow = s.start_evaluation(r1.id, slow.id, slow.content_hash)
        s.record_task_result(ev_slow.id, "t0", 0.1)
        s.fail_evaluation(ev_slow.id, "timeout", "exceeded its 600 s budget")
        s.record_failure(r1.id, f"model:{bad.id}", "policy", "policy", "rejected: pickle")
        s.record_weights(r1.id, [0, 2], [0.9, 0.1], block=101)
        s.finish_round(r1.id)
        r2 = s.begin_round(200, "0xdef")
        s.record_verdict(r2.id, good.id, True)
        ev2 = s.start_evaluation(r2.id, good.id, good.content_hash)
        s.record_task_result(ev2.id, "t0", 1.0)
        s.record_failure(r2.id, "hotkey:5Junk", "commitment", "commitment", "REVISION 'x' is not 40 hex")


def _sql(path: Path, statement: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(statement)
        db.commit()


@pytest.fixture
def state_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state.sqlite"
    monkeypatch.setenv("HARNESS_STATE_DB", str(path))
    return path


@pytest.fixture
def filled(state_db: Path) -> Path:
    _populate(state_db)
    return state_db


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _md_rows(markdown: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if cells[0] == first_cell:
                rows.append(cells)
    return rows


def test_status_json_is_store_status_plus_recent_failures(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "status", "--json")
    assert code == 0
    shown = json.loads(out)
    with Store(filled) as store:
        recent = {
            "recent_failures": store.read.recent_failures(10),
            "feed": feed_status(store),
            "scoring_fingerprint": fingerprint_status(store),
        }
        expected = json.loads(json.dumps(store.read.status() | recent))
    assert shown == expected
    assert shown["round_in_progress"]["id"] == 2
    assert shown["round_in_progress"]["progress"] == {
        "evaluations": {"running": 1},
        "verdicts": {"allowed": 1, "rejected": 0},
        "tasks_done": 1,
        "failures": 1,
    }
    assert shown["last_round"]["id"] == 1
    assert [(r["hotkey"], r["score"], r["round"]) for r in shown["leaderboard"]] == [("5GoodHotkeyAAAA", 0.9, 1)]
    assert (shown["last_weights"]["uids"], shown["last_weights"]["weights"]) == ([0, 2], [0.9, 0.1])
    (failure,) = shown["recent_failures"]
    assert (failure["round"], failure["class"], failure["reason"]) == (2, "commitment", "REVISION 'x' is not 40 hex")


def test_status_text_shows_progress_leaderboard_weights_and_failures(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "status")
    assert code == 0
    assert "round in progress: 2 at block 200" in out
    assert "0 done, 1 running, 0 failed; models 1 allowed, 0 rejected; 1 tasks done; 1 failures" in out
    assert "last finished round: 1" in out
    board = next(line for line in out.splitlines() if "acme/good@aaaaaaaa" in line)
    assert "5GoodHot…" in board and "0.9000" in board and "10" in board
    assert "last weights (round 1, block 101" in out
    weights = [line for line in out.splitlines() if "0.1000" in line or "0.9000" in line]
    assert any("│ 2 " in line and "0.1000" in line for line in weights)
    assert "recent failures (round 2)" in out and "REVISION 'x' is not 40 hex" in out


def test_status_without_database_says_so_and_creates_nothing(
    state_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "status")
    assert (code, out) == (0, "")
    assert err.strip().startswith(f"no state database at {state_db}")
    assert "HARNESS_CACHE_DIR" in err and ".harness-data" in err  # where the demo stack keeps its data
    code, out, _ = _run(capsys, "status", "--json")
    assert code == 0 and json.loads(out) == EMPTY_STATUS
    assert not state_db.exists()


def test_status_on_fresh_database_prints_no_rounds_yet(state_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(state_db).close()
    code, out, _ = _run(capsys, "status")
    assert (code, out.strip()) == (0, "no rounds yet")
    code, out, _ = _run(capsys, "status", "--json")
    shown = json.loads(out)
    # a fresh database has no round, so no recorded fingerprint; this installation's is shown beside it
    assert shown.pop("scoring_fingerprint") == {"installed": scoring_fingerprint().as_dict(), "last_round": None}
    assert shown | {"schema_version": None, "scoring_fingerprint": None} == EMPTY_STATUS


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is not a file"),
        (lambda p: p.write_bytes(b"this is no sqlite database, just text" * 40), "not a database"),
        (lambda p: _sql(p, "PRAGMA user_version=99"), "schema version 99"),
        (lambda p: _sql(p, "CREATE TABLE x (y)"), "not a harness state database"),
    ],
)
def test_status_on_unusable_database_is_one_line_exit_2(
    state_db: Path, capsys: pytest.CaptureFixture[str], make, message: str
) -> None:
    make(state_db)
    code, out, err = _run(capsys, "status")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and err.startswith("error: ")


def test_status_reads_beside_a_writer_holding_the_lock(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A live supervisor mid-step must neither block `harness status` nor show its uncommitted writes."""
    writer = sqlite3.connect(filled, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO failures (round_id, subject, stage, class, reason, recorded_at) "
        "VALUES (2, 'round', 'x', 'y', 'uncommitted', 0)"
    )
    try:
        code, out, _ = _run(capsys, "--set", "log_level=error", "status", "--json")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0
    assert [f["reason"] for f in json.loads(out)["recent_failures"]] == ["REVISION 'x' is not 40 hex"]


def test_report_json_has_models_evaluations_failures_and_weights(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "report", "1", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["round"]["status"] == "done"
    assert [(m["repo"], m["allowed"]) for m in report["models"]] == [
        ("acme/good", True),
        ("acme/bad", False),
        ("acme/slow", True),
    ]
    assert report["models"][1]["violations"] == [{"rule": "pickle", "message": HOSTILE}]
    good, slow = report["evaluations"]
    assert (good["repo"], good["uid"], good["status"], good["score"], good["tasks_done"]) == (
        "acme/good",
        0,
        "done",
        0.9,
        3,
    )
    assert good["details"]["families"]["toolcall"]["mean"] == 0.95
    assert (slow["status"], slow["score"], slow["tasks_done"]) == ("failed", None, 1)
    assert [(f["class"], f["model"]["repo"]) for f in report["failures"]] == [
        ("timeout", "acme/slow"),
        ("policy", "acme/bad"),
    ]
    assert (report["weights"]["uids"], report["weights"]["block"]) == ([0, 2], 101)


def test_report_markdown_has_the_rows(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, md, _ = _run(capsys, "report", "last", "--markdown")
    assert code == 0
    assert md.startswith("### Round 1 · done\n")
    assert "**Models** (3: 2 allowed, 1 rejected)" in md
    # full hotkeys in Markdown: a miner finds their row by the hotkey they registered
    assert _md_rows(md, "1")[0][:5] == ["1", "`5BadHotkeyBBBB`", "`acme/bad@bbbbbbbb`", "11", "**rejected**"]
    header = _md_rows(md, "uid")[1]
    assert header[:6] == ["uid", "model", "status", "score", "caption", "toolcall"]
    assert header[6:] == ["moving score", "standing", "weight", "tasks", "why"]
    evaluations = [r for r in _md_rows(md, "0") if len(r) == 11]
    assert [[*r[:6], r[9]] for r in evaluations] == [
        ["0", "`acme/good@aaaaaaaa`", "done", "0.9000", "0.8000", "0.9500", "3"]
    ]
    (slow,) = [r for r in _md_rows(md, "2") if len(r) == 11]
    assert [*slow[:6], slow[9]] == ["2", "`acme/slow@cccccccc`", "failed", "-", "-", "-", "1"]
    assert "the evaluation failed" in slow[10]
    assert _md_rows(md, "acme/slow@cccccccc (5Slow)") == [
        ["acme/slow@cccccccc (5Slow)", "evaluate", "timeout", "exceeded its 600 s budget"]
    ]
    weights = [r for r in _md_rows(md, "0") + _md_rows(md, "2") if len(r) == 3]
    assert weights == [["0", "`5GoodHotkeyAAAA`", "0.9000"], ["2", "`5Slow`", "0.1000"]]


def test_hostile_text_is_neither_markup_nor_escape_codes(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, text, _ = _run(capsys, "report", "1")
    assert "\x1b" not in text
    assert "\\x1b[31m[bold]red[/bold] | @everyone" in text  # shown literally, not styled
    _, md, _ = _run(capsys, "report", "1", "--markdown")
    assert "\x1b" not in md
    assert "\\\\x1b\\[31m\\[bold\\]red\\[/bold\\] \\| @\u200beveryone" in md
    (row,) = _md_rows(md, "1")
    assert len(row) == 6  # the escaped `|` did not split the violations cell


def test_report_text_lists_models_evaluations_failures_weights(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "report", "current")
    assert code == 0
    assert out.startswith("round 2 at block 200: running")
    assert "weights: not set in this round" in out and "REVISION 'x' is not 40 hex" in out
    code, out, _ = _run(capsys, "report", "1")
    evaluation = next(line for line in out.splitlines() if "acme/good@aaaaaaaa" in line and "done" in line)
    assert "0.9000" in evaluation and "0.9500" in evaluation and "0.8000" in evaluation
    assert any("rejected" in line and "pickle:" in line for line in out.splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "9"], "no round 9"),
        (["report", "abc"], "ROUND must be a round number"),
        (["report", "1", "--json", "--markdown"], "choose one of --json and --markdown"),
    ],
)
def test_report_bad_round_is_one_line_exit_2(
    filled: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = _run(capsys, *args)
    assert (code, out) == (2, "")
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_report_last_without_finished_round_and_without_database(
    state_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "report", "last")
    assert code == 2 and "no state database" in err and not state_db.exists()
    with Store(state_db) as store:
        store.begin_round()
    code, _, err = _run(capsys, "report", "last")
    assert code == 2 and err.strip() == "error: no finished round yet (try `current`)"
    code, out, _ = _run(capsys, "status")
    assert code == 0 and out.startswith("round in progress: 1: running")
    assert "leaderboard: no finished evaluations yet" in out and "last weights: none set yet" in out


def test_fallback_weights_are_named_in_status_and_report(state_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(state_db) as s:
        rnd = s.begin_round(300, "0x300")
        s.record_weights(rnd.id, [0], [1.0], block=301, receipt={"message": "stored", "mode": "burn"})
        s.finish_round(rnd.id)
    code, out, _ = _run(capsys, "status")
    assert code == 0 and "FALLBACK burn" in " ".join(out.split())
    code, out, _ = _run(capsys, "report", "last")
    assert code == 0 and "FALLBACK burn" in " ".join(out.split())


def test_status_points_at_the_demo_data_when_it_exists(
    state_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `make harness-up` the state lives under `.harness-data`, not the default cache: status says where."""
    demo = tmp_path / "checkout" / ".harness-data"
    demo.mkdir(parents=True)
    Store(demo / "state.sqlite").close()
    monkeypatch.chdir(demo.parent)
    code, _, err = _run(capsys, "status")
    assert code == 0
    assert f"HARNESS_CACHE_DIR={demo} harness status" in err
    code, _, err = _run(capsys, "report", "last")
    assert code == 2 and f"HARNESS_CACHE_DIR={demo}" in err
