"""`harness selftest` answers in minutes and says what it runs: the plan line (competition, task counts, token cap,
engine), the quick size on the CPU engine, an ETA from the tasks done, the partial score on Ctrl-C, and a
validator's published settings (`--like-validator`). The sandboxed run itself (Docker) is stood in for at
`run_selftest`, the boundary the Docker tests cover (tests/docker/test_cli_sigterm.py); everything above it is
the real command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.app import main
from harness.cli.commands.selftest_cmd import eta_text
from harness.evaluation.results import TaskResult
from harness.evaluation.run_loop import TaskOutcome
from harness.miner import selftest as miner_selftest
from harness.settings.root import Settings
from harness.web.signing import MAX_DOCUMENT_BYTES


def _result(task: str, family: str, score: float) -> TaskResult:
    return TaskResult(task, family, "c", score, TaskOutcome(task_id=task, content="x"))


class Seen:
    settings: Settings | None = None
    competition: str | None = None


@pytest.fixture
def interrupted_run(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """A run that finishes three of eight tasks, then Ctrl-C arrives inside the run loop."""
    seen = Seen()

    def run(model: str, settings: Settings, *, competition: str, on_task_set: Any, on_task: Any, **_: Any) -> None:
        seen.settings, seen.competition = settings, competition
        on_task_set(8)
        for result in (_result("tc-0", "toolcall", 1.0), _result("tc-1", "toolcall", 0.0)):
            on_task(result)
        on_task(_result("cap-0", "caption", 0.5))
        raise KeyboardInterrupt

    monkeypatch.setattr(miner_selftest, "run_selftest", run)
    return seen


def test_ctrl_c_prints_the_partial_score_over_the_tasks_done(
    interrupted_run: Seen, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--competition", "any2any"])
    err = capsys.readouterr().err
    assert code == 130
    # toolcall 0.5 over 2, caption 0.5 over 1, weighted 0.5 / 0.5 as any2any weighs them
    assert "PARTIAL SCORE 0.500" in err and "over 3/8 tasks done" in err
    assert "toolcall 0.500 over 2, caption 0.500 over 1" in err


def test_the_plan_line_names_competition_counts_cap_and_engine(
    interrupted_run: Seen, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--competition", "any2any"])
    err = capsys.readouterr().err
    quick = miner_selftest.QUICK_TASKS
    full = Settings().tasks
    assert (
        f"selftest: competition any2any (toolcall 0.5, caption 0.5); tasks: toolcall {quick}, caption {quick}; "
        f"token cap {Settings().evaluation.max_tokens}; engine cpu; QUICK size (a validator runs toolcall "
        f"{full.toolcall_n}, caption {full.caption_n}: --full for that)"
    ) in " ".join(err.split())
    assert interrupted_run.settings is not None
    assert (interrupted_run.settings.tasks.toolcall_n, interrupted_run.settings.tasks.caption_n) == (quick, quick)


def test_full_and_n_turn_the_quick_size_off(interrupted_run: Seen, tmp_path: Path) -> None:
    main(["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--full"])
    assert interrupted_run.settings is not None
    assert interrupted_run.settings.tasks.toolcall_n == Settings().tasks.toolcall_n
    main(["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--n", "3"])
    assert interrupted_run.settings.tasks.toolcall_n == 3


def test_eta_is_the_mean_pace_of_the_tasks_done() -> None:
    assert eta_text(None, 0, 10) == "ETA -"
    assert eta_text(120.0, 2, 10) == "ETA 8:00"  # 60 s a task, 8 left
    assert eta_text(30.0, 3, 4) == "ETA 0:10"


def test_a_quick_runs_interval_is_compared_with_a_full_ones() -> None:
    report = {
        "family_weights": {"toolcall": 1.0},
        "families": {"toolcall": {"n": 6, "low": 0.1, "high": 0.5}},
    }
    # ±0.2 over 6 tasks; over 96 tasks the half-width shrinks by sqrt(6/96) = 1/4
    assert miner_selftest.full_interval_half_width(report, {"toolcall": 96}) == pytest.approx(0.05)


def _published(tmp_path: Path, **extra: Any) -> Path:
    doc = {
        "format": "harness-settings/1",
        "default_competition": "any2any",
        "competitions": {"any2any": {"families": {"toolcall": 0.5, "caption": 0.5}}},
        "settings": {
            "tasks": {"toolcall_n": 2, "caption_n": 24, "toolcall_categories": {"simple": 1.0}},
            "evaluation": {"max_tokens": 128, "temperature": 0.0},
            "scoring": {"ema_alpha": 0.3, "copy_margin": 0.02},
            "sandbox": {"engine": "cpu"},
            "future_section": {"knob": 1},
        },
        "unreproducible": {"private_pool": False, "feed": True},
        **extra,
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_like_validator_runs_the_validators_settings(
    interrupted_run: Seen, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published = _published(tmp_path)
    code = main(
        ["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--like-validator", str(published), "--full"]
    )
    err = capsys.readouterr().err
    assert code == 130
    settings = interrupted_run.settings
    assert settings is not None and interrupted_run.competition == "any2any"  # the validator's default
    assert (settings.tasks.toolcall_n, settings.tasks.caption_n, settings.evaluation.max_tokens) == (2, 24, 128)
    assert settings.tasks.toolcall_categories == {"simple": 1.0}  # a map replaced whole, not merged
    assert "not known here (kept ours): future_section.knob" in err
    assert "tasks a miner cannot have (feed)" in err


def test_the_miners_own_set_wins_over_the_published_settings(interrupted_run: Seen, tmp_path: Path) -> None:
    published = _published(tmp_path)
    argv = ["selftest", str(tmp_path), "--like-validator", str(published), "--full"]
    main([*argv, "--set", f"cache_dir={tmp_path}", "--set", "evaluation.max_tokens=64"])  # --set after the command
    assert interrupted_run.settings is not None and interrupted_run.settings.evaluation.max_tokens == 64


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not json", "not JSON"),
        (json.dumps({"format": "other/1"}).encode(), "not a harness-settings/1 document"),
        (b"x" * (MAX_DOCUMENT_BYTES + 1), "larger than"),
    ],
)
def test_a_bad_published_document_is_one_line_exit_2(
    content: bytes, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code = main(["--set", f"cache_dir={tmp_path}", "selftest", str(tmp_path), "--like-validator", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and needle in err


def test_the_end_of_run_says_why_with_the_expected_call_and_escapes_the_answer() -> None:
    """A real tool-call task set scored by the real scorer: a rambling answer at the token cap and a hostile one."""
    from harness.cli.commands.selftest_cmd import _summary
    from harness.evaluation.report import build_report
    from harness.evaluation.task_scoring import score_each
    from harness.miner.selftest import SelftestResult
    from harness.tasks.build import build_family

    settings = Settings(evaluation={"max_tokens": 32}, tasks={"bfcl_fraction": 0.0})
    task_set = build_family("0x5eed", "toolcall", 2, settings.tasks)
    first, second = (t["id"] for t in task_set["tasks"])
    hostile = "sure\x1b]52;c;cm0gLXJm\x07 \u202etxt.exe\u200b"
    outcomes = [
        TaskOutcome(task_id=first, content="la manera de " * 20, finish_reason="length", completion_tokens=32),
        TaskOutcome(task_id=second, content=hostile, finish_reason="stop", completion_tokens=9),
    ]
    results = score_each(task_set["tasks"], outcomes, settings.scoring)
    report = build_report(
        task_set=task_set,
        model="m",
        results=results,
        family_weights={"toolcall": 1.0},
        evaluation=settings.evaluation,
        scoring=settings.scoring,
        wall_s=1.0,
        tasks_sent=2,
    )
    assert [r["truncated"] for r in report["tasks"]] == [True, False]
    assert all(r["reason"] and r["expected"] for r in report["tasks"])  # every 0 has a reason and what was expected
    text = _summary(SelftestResult("m", True, {}, "0x5eed", "toolcall", identity="i", report=report))
    assert "1 answers cut at the token cap (32 tokens)" in text
    assert "no function call the checker can parse" in text and "expected [{" in text
    assert "\x1b" not in text and "\u202e" not in text and "\u200b" not in text
    assert "\\x1b]52;c;cm0gLXJm\\x07" in text and "\\u202etxt.exe\\u200b" in text
